# The client interrupted: Ctrl-C (SIGINT) while a statement runs cancels
# it through libpq's cancel request and leaves the batch as it was (an
# apply: still validated, nothing written; a stage: no batch, no large
# object); a connection lost mid-statement is exit 1 with libpq's message.
# The statements are made to wait on a lock another session holds, so the
# signal always lands while they run.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IrClient;

my $node = client_node('client_signals');
my $conn = $node->connstr('postgres');

sub sql { return $node->safe_psql('postgres', $_[0]); }

# a session holding ACCESS EXCLUSIVE on customers until it is terminated
sub lock_customers
{
	local $ENV{PGAPPNAME} = 'ir_locker';
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-d', $conn, '-c',
		  'LOCK TABLE customers IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600)' ],
		'<', \'', '>', \my $o, '2>', \my $e);
	$node->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM pg_locks
		 WHERE relation = 'customers'::regclass AND mode = 'AccessExclusiveLock' AND granted})
	  or die 'the lock was not taken';
	return $h;
}

sub unlock
{
	my ($h) = @_;
	sql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ir_locker'});
	$h->finish;
}

# start the client in the background; wait until its statement waits on the lock
sub client_waiting
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	local $ENV{PGAPPNAME} = 'ir_under_test';
	my $h = IPC::Run::start([ 'import_rollback', '-d', $conn, @args ],
		'<', \'', '>', \$out, '2>', \$err);
	ok( $node->poll_query_until('postgres', q{
			SELECT count(*) > 0 FROM pg_stat_activity
			 WHERE application_name = 'ir_under_test' AND wait_event_type = 'Lock'}),
		"@args: waits on the lock");
	return ($h, \$out, \$err);
}

sub finish
{
	my ($h) = @_;
	$h->finish;
	return $h->result(0);
}

# a validated batch
my ($rc, $out) = run_client($node, [ 'stage', fixture('customers.csv'), '-t', 'customers' ]);
chomp(my $b = $out);
($rc) = run_client($node, [ 'validate', $b ]);
is($rc, 0, 'a validated batch');

# 1. Ctrl-C during apply
my $locker = lock_customers();
my ($h, $o, $e) = client_waiting('apply', $b);
$h->signal('INT');
$rc = finish($h);
is($rc, 1, 'Ctrl-C during apply: exit 1');
like($$e, qr/import_rollback: cancel request sent/, 'Ctrl-C: the cancel request is sent');
like($$e, qr/^import_rollback: ERROR:  canceling statement due to user request$/m,
	'Ctrl-C: the server cancelled the statement');
unlock($locker);
is(sql("SELECT state FROM ir_batches WHERE batch_id = $b"), 'validated', 'Ctrl-C: the batch stays validated');
is(sql('SELECT count(*) FROM customers'), '30', 'Ctrl-C: nothing was written');

# 2. Ctrl-C during stage: no batch, no large object
my $batches = batch_count($node);
$locker = lock_customers();
($h, $o, $e) = client_waiting('stage', fixture('customers.csv'), '-t', 'customers', '-P');
is(lo_count($node), '0', 'the upload is not visible to other sessions before commit');
$h->signal('INT');
$rc = finish($h);
is($rc, 1, 'Ctrl-C during stage: exit 1');
like($$e, qr/ERROR:  canceling statement due to user request/, 'Ctrl-C during stage: cancelled');
is($$o, '', 'Ctrl-C during stage: no batch id');
unlock($locker);
is(batch_count($node), $batches, 'Ctrl-C during stage: no batch');
is(lo_count($node), '0', 'Ctrl-C during stage: no large object left');

# 3. the connection lost during apply
$locker = lock_customers();
($h, $o, $e) = client_waiting('apply', $b);
sql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ir_under_test'});
$rc = finish($h);
is($rc, 1, 'connection lost during apply: exit 1');
like($$e, qr/terminating connection due to administrator command/, 'connection lost: the server\'s last word');
like($$e, qr/server closed the connection unexpectedly/, 'connection lost: libpq\'s message');
like($$e, qr/import_rollback: error: the connection to the server was lost/, 'connection lost: said so');
unlock($locker);
is(sql("SELECT state FROM ir_batches WHERE batch_id = $b"), 'validated', 'connection lost: the batch stays validated');

# and the batch applies afterwards
($rc) = run_client($node, [ 'apply', $b ]);
is($rc, 0, 'the batch applies once nothing is in the way');

$node->stop;
done_testing();
