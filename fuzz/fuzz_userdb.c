/* Fuzz target: users/<local>.json documents, logins and stored password
 * strings. argon2id verification is left out (its cost is the point); its
 * parameter checker is what guards it, and that runs on every input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "userdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct userdb_user u;
    if (userdb_parse_user("fuzz", (const char *)data, size, &u, err, sizeof err) == 0) {
        const char *domains[] = {"example.test"};
        for (int i = 0; i < u.naliases; i++)
            userdb_owns(&u, u.aliases[i], domains, 1);
        for (int i = 0; i < u.ntargets; i++)
            userdb_owns(&u, u.targets[i], domains, 1);
        if (userdb_password_kind(u.password) == USERDB_PW_BLAKE2B)
            userdb_verify(u.password, "abc", 3);
        userdb_user_free(&u);
    }
    char *s = malloc(size + 1); /* the same bytes as a login and as a stored hash */
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char local[USERDB_LOCAL_MAX + 1];
    const char *domain;
    userdb_login_split(s, local, &domain);
    enum userdb_kind k = userdb_password_kind(s);
    if (k == USERDB_PW_BLAKE2B)
        userdb_verify(s, "abc", 3);
    free(s);
    return 0;
}
