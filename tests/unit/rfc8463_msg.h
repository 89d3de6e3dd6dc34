/* The signed example message of RFC 8463 appendix A, shared by the DKIM unit
 * tests and fuzz targets (one copy of the test vector). */
#ifndef ENVOI_TEST_RFC8463_MSG_H
#define ENVOI_TEST_RFC8463_MSG_H

/* RFC 8463 appendix A (as shipped in dkimpy's tests/data/rfc6376.signed.msg). */
static const char rfc8463_msg[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; \r\n"
    " d=football.example.com; i=@football.example.com; \r\n"
    " q=dns/txt; s=brisbane; t=1518460054; h=from : to : \r\n"
    " subject : date : message-id : from : subject : date; \r\n"
    " bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; \r\n"
    " b=9/dsDChY0YMTtD5Eyw3wx7x22BlSJP7M5ECbJ7GWrR45nXlTCGb8l0YB\r\n"
    " o0wBLR++X5LqmsxXaOYLLJe46l10AQ==\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; \r\n"
    " d=football.example.com; i=@football.example.com; \r\n"
    " q=dns/txt; s=test; t=1527915362; h=from : to : subject : \r\n"
    " date : message-id : from : subject : date; \r\n"
    " bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; \r\n"
    " b=icKcLSEZYXJ95flvWE8FT6hl5iqd8MC/LEKYH0QjsqYy6MO/4pgVNCZH\r\n"
    " l/RAXAuADxE/40Fg7uTlxwwD1hjN2Ple6J//cJfslBdDOq6zTVbne1dqtl\r\n"
    " NOat7iamJ1AfRqyG+ja7a2AZsrpUuJ7VA6O+0zRYPqpwMEkEFIzI9i/Xk=\r\n"
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";

#endif
