#!/usr/bin/perl
# Mail::SPF (libmail-spf-perl) as a second reference implementation for the
# differential test: reads "ip<TAB>sender<TAB>helo" lines on stdin, asks the
# DNS server given as argv[0] (127.0.0.1) port argv[1], prints
# "result<TAB>explanation<TAB>text" per line. An empty sender is the null
# reverse-path: MAIL FROM postmaster@<helo> (RFC 7208 §2.4), as envoi does.
use strict;
use warnings;
use Mail::SPF;
use Net::DNS::Resolver;

my ($ns, $port) = @ARGV;
my $res = Net::DNS::Resolver->new(nameservers => [$ns], port => $port,
                                  udp_timeout => 2, tcp_timeout => 2, retry => 1);
my $server = Mail::SPF::Server->new(dns_resolver => $res,
                                    default_authority_explanation => 'DEFAULT');
$| = 1;
while (my $line = <STDIN>) {
    chomp $line;
    my ($ip, $sender, $helo) = split /\t/, $line, -1;
    my $result = eval {
        $sender = "postmaster\@$helo" if $sender eq '';
        my $req = Mail::SPF::Request->new(versions => [1], scope => 'mfrom', identity => $sender,
                                          ip_address => $ip, helo_identity => $helo);
        $server->process($req);
    };
    if (!$result) {
        my $err = $@ || 'no result';  # a malformed identity: no check at all
        $err =~ s/\s+/ /g;
        print "error\t$err\n";
        next;
    }
    my $exp = '';
    if ($result->code eq 'fail') {
        $exp = eval { $result->authority_explanation } // ("EXPERROR " . ($@ =~ s/\s+/ /gr));
    }
    my $text = $result->can('text') ? ($result->text // '') : '';
    $text =~ s/\s+/ /g;
    print $result->code, "\t", $exp, "\t", $text, "\n";
}
