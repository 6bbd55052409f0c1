# The client on a terminal, driven through tmux: import shows its progress
# on one line ("\r": the upload line is overwritten by the rows staged),
# reviews the batch and asks before it applies; "y" applies, "n" leaves
# the batch validated (exit 0), Ctrl-C at the question leaves it
# validated too (exit 1); import --run asks about the whole run, and "y"
# applies the run.  -W asks for the password without echoing it.
# Skipped, saying why, where tmux is not installed.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use IrClient;

my $tmux = `command -v tmux 2>/dev/null`;
chomp $tmux;
plan skip_all => 'tmux is not installed (apt-get install tmux): no terminal to drive' unless $tmux;

my $node = client_node('client_tty');
my $dir = PostgreSQL::Test::Utils::tempdir_short();
my $sock = "$dir/tmux";
my $conn = $node->connstr('postgres');
my $password = 'tty-Secret-9';

sub sql { return $node->safe_psql('postgres', $_[0]); }

# one tmux session running one command line; its exit status lands in a file
my $n = 0;
sub start_tty
{
	my ($cmdline) = @_;
	$n++;
	unlink "$dir/exit$n";
	system($tmux, '-S', $sock, 'new-session', '-d', '-s', "ir$n", '-x', '200', '-y', '100',
		"$cmdline; echo \$? > $dir/exit$n; sleep 600") == 0
	  or die "tmux new-session failed";
	return "ir$n";
}

sub screen
{
	my ($s) = @_;
	return scalar `'$tmux' -S '$sock' capture-pane -p -J -t '$s' -S -1000`;
}

# wait until the screen matches; return it
sub wait_for
{
	my ($s, $re, $what) = @_;
	my $text = '';
	for (1 .. 300)
	{
		$text = screen($s);
		last if $text =~ $re;
		usleep(100_000);
	}
	like($text, $re, $what);
	return $text;
}

sub keys_to
{
	my ($s, @keys) = @_;
	system($tmux, '-S', $sock, 'send-keys', '-t', $s, @keys) == 0 or die 'tmux send-keys failed';
}

sub exit_status
{
	my ($s) = @_;
	my $f = "$dir/exit" . substr($s, 2);
	for (1 .. 300)
	{
		last if -s $f;
		usleep(100_000);
	}
	my $rc = -s $f ? slurp_file($f) : 'none';
	chomp $rc;
	return $rc;
}

my $ir = "import_rollback -d \"$conn\"";
my $file = fixture('customers.csv');

# 1. import, answered "y"
my $s = start_tty("$ir import '$file' -t customers -P");
my $text = wait_for($s, qr/Apply batch \d+ to public\.customers\? \[y\/N\] $/m, 'import asks before it applies');
like($text, qr/^staged: 45 rows \(1 malformed\), \d+ kB in [\d.]+ s *$/m, 'the progress ends with the rows staged');
unlike($text, qr/^uploading:/m, 'on a terminal the upload line was overwritten ("\r"), not followed');
like($text, qr/^Applying would insert 33, update 5 and leave 5 records unchanged in public\.customers\.$/m,
	'the review says what applying would do');
my ($b) = $text =~ /^Batch (\d+):/m;
is(sql("SELECT state FROM ir_batches WHERE batch_id = $b"), 'validated', 'while it asks, the batch is validated');
keys_to($s, 'y', 'Enter');
$text = wait_for($s, qr/^Batch $b applied\./m, 'answered "y": applied');
is(exit_status($s), '0', 'answered "y": exit 0');
is(sql("SELECT state FROM ir_batches WHERE batch_id = $b"), 'applied', 'the batch is applied');

# 2. answered "n": nothing applied, the batch stays validated
$s = start_tty("$ir import '" . fixture('customers_renamed.csv') . "' -t customers"
	  . " -m 'Customer ID=id' -m E-mail=email -m 'Full name=name' -m Country=country -m Limit=credit_limit");
wait_for($s, qr/\? \[y\/N\] $/m, 'the second import asks');
keys_to($s, 'n', 'Enter');
$text = wait_for($s, qr/^Not applied: batch (\d+) stays validated/m, 'answered "n": not applied');
($b) = $text =~ /^Not applied: batch (\d+)/m;
is(exit_status($s), '0', 'answered "n": exit 0');
is(sql("SELECT state FROM ir_batches WHERE batch_id = $b"), 'validated', 'answered "n": the batch stays validated');

# 3. Ctrl-C at the question
($b) = ();
$s = start_tty("$ir import '$file' -t customers --source-name again.csv");
$text = wait_for($s, qr/Apply batch (\d+) to public\.customers\? \[y\/N\] $/m, 'the third import asks');
($b) = $text =~ /Apply batch (\d+) to/;
keys_to($s, 'C-c');
wait_for($s, qr/canceled: batch $b stays validated/, 'Ctrl-C at the question: not applied');
is(exit_status($s), '1', 'Ctrl-C at the question: exit 1');
is(sql("SELECT state FROM ir_batches WHERE batch_id = $b"), 'validated', 'Ctrl-C: the batch stays validated');

# 4. import --run asks about the whole run: "n" leaves the run open and
# the batch validated in it; "y" applies the run (ir_run_apply)
my $run = sql(q{SELECT ir_run_create('tty run')});
$s = start_tty("$ir import '$file' -t customers --source-name run.csv --run $run");
$text = wait_for($s, qr/Apply run $run \("tty run", 1 batch\)\? \[y\/N\] $/m, 'import --run asks about the run');
like($text, qr/^Batch (\d+) is a member of run $run \("tty run", 1 batch\): it is applied with its run/m,
	'import --run: says the run is applied as a whole');
($b) = $text =~ /^Batch (\d+):/m;
keys_to($s, 'n', 'Enter');
wait_for($s, qr/^Not applied: batch $b stays validated in run $run\./m, 'import --run answered "n": not applied');
is(exit_status($s), '0', 'import --run answered "n": exit 0');
is(sql("SELECT b.state || '/' || r.state FROM ir_batches b JOIN ir_runs r USING (run_id) WHERE b.batch_id = $b"),
	'validated/open', 'import --run answered "n": the batch validated, the run open');
$run = sql(q{SELECT ir_run_create('tty run, applied')});
$s = start_tty("$ir import '" . fixture('customers_renamed.csv') . "' -t customers --run $run"
	  . " -m 'Customer ID=id' -m E-mail=email -m 'Full name=name' -m Country=country -m Limit=credit_limit");
$text = wait_for($s, qr/Apply run $run \("tty run, applied", 1 batch\)\? \[y\/N\] $/m, 'the second import --run asks');
($b) = $text =~ /^Batch (\d+):/m;
keys_to($s, 'y', 'Enter');
wait_for($s, qr/^Run $run applied\./m, 'import --run answered "y": the run applied');
is(exit_status($s), '0', 'import --run answered "y": exit 0');
is(sql("SELECT b.state || '/' || r.state FROM ir_batches b JOIN ir_runs r USING (run_id) WHERE b.batch_id = $b"),
	'applied/applied', 'import --run answered "y": the batch and its run applied');

# 5. -W: the password asked for on the terminal, not echoed
sql(qq{SET password_encryption = 'scram-sha-256'; CREATE ROLE pwuser LOGIN PASSWORD '$password'});
my $hba = $node->data_dir . '/pg_hba.conf';
my $old = slurp_file($hba);
open(my $fh, '>', $hba) or die "$hba: $!";
print $fh "local all pwuser scram-sha-256\n$old";
close($fh);
$node->reload;
$s = start_tty("import_rollback -W -d \"$conn user=pwuser\" history");
wait_for($s, qr/^Password: $/m, '-W asks for the password');
keys_to($s, $password, 'Enter');
$text = wait_for($s, qr/\(\d+ rows?\)/, '-W: connected with the typed password');
unlike($text, qr/\Q$password\E/, '-W: the password was not echoed');
is(exit_status($s), '0', '-W: exit 0');

# a wrong password typed at the prompt libpq asks for by itself (no -W)
$s = start_tty("import_rollback -d \"$conn user=pwuser\" history");
wait_for($s, qr/^Password for user pwuser: $/m, 'asked when the server wants a password');
keys_to($s, 'not-it', 'Enter');
$text = wait_for($s, qr/password authentication failed for user "pwuser"/, 'a wrong typed password: refused');
unlike($text, qr/not-it/, 'the wrong password was not echoed either');
is(exit_status($s), '1', 'a wrong typed password: exit 1');

system($tmux, '-S', $sock, 'kill-server');
$node->stop;
done_testing();
