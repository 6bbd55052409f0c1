# Crash safety of the 0.2.0 operations that drop or stream: a server
# killed while ir_stage_large_object() reads a large object leaves no
# batch and keeps the large object; a server killed in the middle of an
# ir_purge() (some tables already dropped, the transaction open) leaves
# every batch, table and state as it was, and the purge runs again.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('purge_lo_crash');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION import_rollback;
	CREATE TABLE customers (id int PRIMARY KEY, name text, email text);
});

sub psql_bg
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$out, '2>', \$err);
	return $h;
}

# 1. ir_stage_large_object killed mid-file.
my $rows = 2000000;
my $file = $node->basedir . '/customers.csv';
$node->safe_psql('postgres', qq{
	COPY (SELECT g, 'name ' || g, 'user' || g || '\@example.com'
	        FROM generate_series(1, $rows) g)
	  TO '$file' WITH (FORMAT csv, HEADER true);
});
my $lo = $node->safe_psql('postgres', "SELECT lo_import('$file')");
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM ir_batches');

my $h = psql_bg("SELECT ir_stage_large_object('customers', 'customers.csv', $lo)");
ok( $node->poll_query_until('postgres',
		q{SELECT EXISTS (SELECT 1 FROM pg_stat_progress_copy WHERE bytes_processed > 4000000)}),
	'large-object staging is under way');
$node->stop('immediate');
$h->finish;
$node->start;

is($node->safe_psql('postgres', 'SELECT count(*) FROM ir_batches'),
	$before, 'no batch is left by a large-object staging killed mid-file');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_class
		   WHERE relnamespace = 'import_rollback'::regnamespace AND relname LIKE 'stage\_%'}),
	'0', 'nor a staging table');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_largeobject_metadata WHERE oid = $lo"),
	'1', 'the large object is still there');

my $b = $node->safe_psql('postgres',
	"SELECT ir_stage_large_object('customers', 'customers.csv', $lo)");
is( $node->safe_psql('postgres',
		"SELECT state || ' ' || rows_total || ' ' || source_sha256 FROM ir_batches WHERE batch_id = $b"),
	'staged ' . $rows . ' '
	  . $node->safe_psql('postgres', "SELECT encode(sha256(pg_read_binary_file('$file')), 'hex')"),
	'staged again after the restart: every row, the file\'s SHA-256');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_largeobject_metadata WHERE oid = $lo"),
	'0', 'and the large object is unlinked');
$node->safe_psql('postgres', "SELECT ir_cancel($b, 'test')");

# 2. ir_purge killed while it waits to drop the last batch's table: the
#    earlier batches' tables are already dropped inside its transaction.
my @ids;
for my $i (1 .. 10)
{
	my $id = $node->safe_psql('postgres',
		"SELECT ir_stage('customers', 'f$i.csv', E'id,name,email\\n$i,n,e\\n')");
	$node->safe_psql('postgres', "SELECT ir_cancel($id, 'test')") if $i % 2;
	push @ids, $id;
}
# two expire (staged), the rest ended; all are old
$node->safe_psql('postgres', q{
	UPDATE import_rollback.batch SET started_at = started_at - interval '9 days',
	       staged_at = staged_at - interval '9 days', ended_at = ended_at - interval '9 days'});
my $last = $ids[-1];
my $state_before = $node->safe_psql('postgres',
	'SELECT string_agg(batch_id || state, \',\' ORDER BY batch_id) FROM ir_batches');

my $lock = psql_bg("BEGIN; LOCK TABLE import_rollback.stage_$last IN ACCESS SHARE MODE;"
	  . " SELECT pg_sleep(600);");
ok( $node->poll_query_until('postgres',
		qq{SELECT EXISTS (SELECT 1 FROM pg_locks
		                   WHERE relation = 'import_rollback.stage_$last'::regclass AND granted)}),
	'a reader holds the last batch\'s staging table');
my $purge = psql_bg("SELECT * FROM ir_purge('1 day')");
ok( $node->poll_query_until('postgres',
		qq{SELECT EXISTS (SELECT 1 FROM pg_locks
		                   WHERE relation = 'import_rollback.stage_$last'::regclass
		                     AND NOT granted AND mode = 'AccessExclusiveLock')}),
	'the purge has dropped the others and waits for the last');
$node->stop('immediate');
$purge->finish;
$lock->finish;
$node->start;

is( $node->safe_psql('postgres',
		'SELECT string_agg(batch_id || state, \',\' ORDER BY batch_id) FROM ir_batches'),
	$state_before, 'after the crash every batch is in its state from before the purge');
is( $node->safe_psql('postgres', q{SELECT count(*) FROM ir_batches WHERE purged_at IS NOT NULL}),
	'0', 'none is marked purged');
is( $node->safe_psql('postgres',
		'SELECT count(*) FROM unnest(ARRAY[' . join(',', @ids) . q{]) i
		  WHERE to_regclass('import_rollback.stage_' || i) IS NOT NULL}),
	scalar(@ids), 'every staging table is still there');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM ir_rejects($ids[0])"), '0',
	'and reports on them work');

is( $node->safe_psql('postgres', q{SELECT count(*) FROM ir_purge('1 day')}),
	scalar(@ids) + 1, 'the purge runs again after the restart (the cancelled large-object batch too)');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_class
		   WHERE relnamespace = 'import_rollback'::regnamespace AND relname LIKE 'stage\_%'}),
	'0', 'and drops every staging table');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM ir_batch_events WHERE detail = 'expired'}),
	'5', 'the staged batches were cancelled as expired');

$node->stop;
done_testing();
