# Crash safety of apply and rollback: a server killed (immediate stop) in
# the middle of a large ir_apply or ir_rollback comes back with the target
# exactly as it was before that operation, the batch in its prior state,
# and the operation can simply be run again.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('apply_crash');
$node->init;
$node->append_conf('postgresql.conf', 'max_wal_size = 1GB');
$node->start;

my $rows = 200000;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION import_rollback;
	CREATE TABLE customers (id int PRIMARY KEY, name text, balance numeric);
	INSERT INTO customers SELECT g, 'name ' || g, g FROM generate_series(1, $rows) g;
});
# half the file updates existing records, half inserts new ones
my $batch = $node->safe_psql('postgres', qq{
	SELECT ir_stage('customers', 'big.csv',
	       'id,name,balance' || E'\\n' ||
	       (SELECT string_agg(format('%s,%s,%s', g, 'new name ' || g, g + 0.5), E'\\n')
	          FROM generate_series($rows / 2 + 1, $rows + $rows / 2) g))
});
$node->safe_psql('postgres', "SELECT state FROM ir_validate($batch)");

sub table_md5
{
	return $node->safe_psql('postgres',
		q{SELECT count(*) || ':' || md5(string_agg(c::text, ',' ORDER BY id)) FROM customers c});
}

sub state
{
	return $node->safe_psql('postgres',
		"SELECT state FROM ir_batches WHERE batch_id = $batch");
}

# Run $sql in the background, wait until its write to the target has
# begun, and kill the server.
sub crash_during
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$out, '2>', \$err);
	ok( $node->poll_query_until('postgres', q{
			SELECT EXISTS (
			  SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			   WHERE a.query LIKE '%ir\_%(%' AND a.pid <> pg_backend_pid()
			     AND l.locktype = 'relation' AND l.mode = 'RowExclusiveLock'
			     AND l.relation = 'customers'::regclass)}),
		'the write to the target is under way');
	$node->stop('immediate');
	$h->finish;
	$node->start;
}

# 1. killed during ir_apply
my $before = table_md5();
crash_during("SELECT * FROM ir_apply($batch)");
is(table_md5(), $before, 'after a crash during apply the target is as before');
is(state(), 'validated', 'and the batch is still validated');
is( $node->safe_psql('postgres',
		"SELECT to_regclass('import_rollback.changes_$batch') IS NULL"),
	't', 'and it has no change log');
is( $node->safe_psql('postgres',
		"SELECT inserted || '/' || updated || '/' || unchanged FROM ir_apply($batch)"),
	($rows / 2) . '/' . ($rows / 2) . '/0', 'the apply runs again in full');
my $applied = table_md5();
isnt($applied, $before, 'and changed the target');

# 2. killed during ir_rollback
crash_during("SELECT * FROM ir_rollback($batch)");
is(table_md5(), $applied, 'after a crash during rollback the target is as applied');
is(state(), 'applied', 'and the batch is still applied');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM ir_changes($batch) WHERE action LIKE 'undo%'"),
	'0', 'and its log holds no undo');
is( $node->safe_psql('postgres',
		"SELECT deleted || '/' || restored || '/' || conflicts FROM ir_rollback($batch)"),
	($rows / 2) . '/' . ($rows / 2) . '/0', 'the rollback runs again in full');
is(table_md5(), $before, 'and the target is exactly as before the apply');

$node->stop;
done_testing();
