# The client and passwords: a cluster that asks pwuser for a SCRAM
# password.  A wrong one fails with libpq's message (exit 1) and is never
# printed; the right one works from PGPASSWORD, from a password file
# (PGPASSFILE) and from a conninfo string, whose password the second,
# progress-watching connection of stage -P reuses without asking; -w never
# asks.  (-W, the prompt, is driven on a terminal in 014_client_tty.pl.)
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use Cwd ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IrClient;

my $node = client_node('client_auth');
my $right = 'right-Secret-42';
my $wrong = 'wrong-Secret-17';
$node->safe_psql('postgres', qq{
	SET password_encryption = 'scram-sha-256';
	CREATE ROLE pwuser LOGIN PASSWORD '$right';
	GRANT SELECT, INSERT, UPDATE, DELETE ON customers TO pwuser;
});
# pwuser must give a password; everyone else is trusted (the harness)
my $hba = $node->data_dir . '/pg_hba.conf';
my $old = slurp_file($hba);
open(my $fh, '>', $hba) or die "$hba: $!";
print $fh "local all pwuser scram-sha-256\n$old";
close($fh);
$node->reload;

my $conn = $node->connstr('postgres') . ' user=pwuser';

my ($rc, $out, $err) = run_client(undef, [ '-d', $conn, '-w', 'history' ], env => { PGPASSWORD => $wrong });
is($rc, 1, 'a wrong password: exit 1');
like($err, qr/^import_rollback: error: connection to server .* failed: FATAL:  password authentication failed for user "pwuser"$/m,
	'a wrong password: libpq\'s message');
unlike("$out$err", qr/\Q$wrong\E/, 'a wrong password is not printed');

($rc, $out, $err) = run_client(undef, [ '-d', $conn, '-w', 'history' ]);
is($rc, 1, 'no password and -w: exit 1');
like($err, qr/no password supplied/, 'no password and -w: not asked, libpq says why');

($rc, $out, $err) = run_client(undef, [ '-d', "$conn password=$wrong", 'history' ]);
is($rc, 1, 'a wrong password in the conninfo: exit 1');
unlike("$out$err", qr/\Q$wrong\E/, 'a password in the conninfo is not printed either');

($rc, $out, $err) = run_client(undef, [ '-d', $conn, '-w', 'history' ], env => { PGPASSWORD => $right });
is($rc, 0, 'the right password from PGPASSWORD');
like($out, qr/\(0 rows\)/, 'PGPASSWORD: connected and answered');

my $passfile = $node->basedir . '/pgpass';
PostgreSQL::Test::Utils::append_to_file($passfile, "*:*:*:pwuser:$right\n");
chmod 0600, $passfile;
($rc, $out, $err) = run_client(undef, [ '-d', $conn, '-w', 'history' ], env => { PGPASSFILE => $passfile });
is($rc, 0, 'the right password from a password file (PGPASSFILE)');

# stage -P: the progress connection reuses the first one's password.  The
# file (120 MB) is large enough for the server to read it for more than a
# second.
# the server writes it: an absolute path
my $file = Cwd::abs_path($node->basedir) . '/many.csv';
$node->safe_psql('postgres', qq{
	COPY (SELECT g AS id, 'user' || g || '\@example.com' AS email, 'Customer ' || g AS name,
	             'US' AS country, g % 1000 AS credit_limit
	        FROM generate_series(1000, 2500999) g)
	  TO '$file' WITH (FORMAT csv, HEADER true);
});
($rc, $out, $err) = run_client(undef, [ '-d', "$conn password=$right", 'stage', $file, '-t', 'customers', '-P' ]);
is($rc, 0, 'stage -P with the password in the conninfo: exit 0');
like($err, qr/^staging: \d+\/\d+ kB \(\d+%\) read by the server, \d+ s$/m,
	'stage -P: the server\'s progress, read over a second connection with the same password');
like($err, qr/^staged: 2500000 rows \(0 malformed\)/m, 'stage -P: every row staged');
unlike("$out$err", qr/\Q$right\E|Password/, 'no password printed or asked for');
is($node->safe_psql('postgres', "SELECT started_by FROM ir_batches WHERE batch_id = $out"),
	'pwuser', 'the batch was staged by pwuser');

$node->stop;
done_testing();
