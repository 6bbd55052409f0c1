# Crash safety of runs: a server killed (immediate stop) in the middle of
# an ir_run_apply -- the parent member already written inside the run's
# transaction, the last member's write under way -- comes back with every
# member and the run exactly as before (states, counts, no change log, no
# applied_at, the targets' rows), and the run can simply be applied again;
# likewise a server killed in the middle of an ir_run_rollback comes back
# with the run applied, and the rollback runs again and restores
# everything.
#
# The operation is held mid-way by a trigger on a member's target that
# waits for an advisory lock another session holds: no timing involved.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('run_crash');
$node->init;
$node->start;

my $rows = 2000;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION import_rollback;
	CREATE TABLE customers (id int PRIMARY KEY, name text);
	CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, qty int);
	INSERT INTO customers SELECT g, 'name ' || g FROM generate_series(1, $rows) g;
	INSERT INTO orders SELECT g, g, 1 FROM generate_series(1, $rows / 2) g;
	-- a write to a held table waits while another session holds lock 7007
	CREATE FUNCTION hold_row() RETURNS trigger LANGUAGE plpgsql
	  AS 'BEGIN PERFORM pg_catalog.pg_advisory_xact_lock_shared(7007);
	      IF TG_OP = ''DELETE'' THEN RETURN OLD; END IF; RETURN NEW; END';
});

# The run: customers (the parent, half updates, half inserts), validated;
# orders (the child, applied last, referencing customers the run creates),
# only staged, so the run's apply validates it.  Staged child first.
my $run = $node->safe_psql('postgres', q{SELECT ir_run_create('crash run')});
my $orders = $node->safe_psql('postgres', qq{
	SELECT ir_stage('orders', 'orders.csv',
	       'id,customer_id,qty' || E'\\n' ||
	       (SELECT string_agg(format('%s,%s,%s', g, g + $rows / 4, 2), E'\\n')
	          FROM generate_series($rows / 4 + 1, $rows) g),
	       '{"run": $run}')
});
my $customers = $node->safe_psql('postgres', qq{
	SELECT ir_stage('customers', 'customers.csv',
	       'id,name' || E'\\n' ||
	       (SELECT string_agg(format('%s,%s', g, 'new name ' || g), E'\\n')
	          FROM generate_series($rows / 2 + 1, $rows + $rows / 2) g),
	       '{"run": $run}')
});
$node->safe_psql('postgres', "SELECT state FROM ir_validate($customers)");
my @members = ($customers, $orders);
my $member_list = join(',', @members);

sub psql_bg
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	return IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$out, '2>', \$err);
}

# Everything a run's apply or rollback could leave behind, as one string.
sub tables_md5
{
	return $node->safe_psql('postgres', q{
		SELECT (SELECT count(*) || ':' || md5(string_agg(c::text, ',' ORDER BY id)) FROM customers c)
		  || ' ' ||
		       (SELECT count(*) || ':' || md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o)});
}

sub run_state
{
	return $node->safe_psql('postgres', qq{
		SELECT state || ' applied_at:' || coalesce(applied_at::text, '-')
		       || ' rolled_back_at:' || coalesce(rolled_back_at::text, '-')
		       || ' events:' || (SELECT count(*) FROM ir_run_events WHERE run_id = $run)
		  FROM ir_runs WHERE run_id = $run});
}

sub members_state
{
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(concat_ws(' ', batch_id, state, rows_valid, rows_rejected,
		                            inserted, updated, unchanged,
		                            'validated_at:' || coalesce(validated_at::text, '-'),
		                            'applied_at:' || coalesce(applied_at::text, '-'),
		                            'rolled_back_at:' || coalesce(rolled_back_at::text, '-'),
		                            'events:' || (SELECT count(*) FROM ir_batch_events e
		                                           WHERE e.batch_id = b.batch_id)),
		                  ', ' ORDER BY batch_id)
		  FROM ir_batches b WHERE batch_id IN ($member_list)});
}

# Hold $table's writes (trigger $trigger), run $sql in the background,
# wait until it is held on that table with $written already written in
# its transaction, and kill the server.
sub crash_during
{
	my ($sql, $trigger, $written) = @_;
	my $lock = psql_bg('BEGIN; SELECT pg_advisory_xact_lock(7007); SELECT pg_sleep(600);');
	ok( $node->poll_query_until('postgres', q{
			SELECT EXISTS (SELECT 1 FROM pg_locks
			                WHERE locktype = 'advisory' AND objid = 7007 AND granted)}),
		'another session holds the advisory lock');
	$node->safe_psql('postgres', $trigger);
	my $h = psql_bg($sql);
	ok( $node->poll_query_until('postgres', q{
			SELECT EXISTS (
			  SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			   WHERE a.query LIKE '%ir\_run\_%(%' AND a.pid <> pg_backend_pid()
			     AND l.locktype = 'advisory' AND l.objid = 7007 AND NOT l.granted)}),
		'the operation waits in the held table\'s trigger');
	is( $node->safe_psql('postgres', qq{
			SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			 WHERE a.query LIKE '%ir\\_run\\_%(%' AND a.pid <> pg_backend_pid()
			   AND l.locktype = 'relation' AND l.mode = 'RowExclusiveLock' AND l.granted
			   AND l.relation = '$written'::regclass}),
		'1', "with $written already written in its transaction");
	$node->stop('immediate');
	$h->finish;
	$lock->finish;
	$node->start;
}

# 1. killed in the middle of ir_run_apply: customers written, orders held
my $tables_before = tables_md5();
my $run_before = run_state();
my $members_before = members_state();
note("run: $run_before");
note("members: $members_before");
like($run_before, qr/^open applied_at:- /, 'the run is open');
like($members_before, qr/^$orders staged .*, $customers validated /, 'orders staged, customers validated');

crash_during("SELECT * FROM ir_run_apply($run)",
	'CREATE TRIGGER hold BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION hold_row()',
	'customers');

is(tables_md5(), $tables_before, 'after a crash during the run\'s apply both targets are as before');
is(run_state(), $run_before, 'the run is as before: open, not applied, no new event');
is(members_state(), $members_before,
	'every member is as before: states, counts, validation, no applied_at, no new event');
is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM unnest(ARRAY[$member_list]) i
		 WHERE to_regclass('import_rollback.changes_' || i) IS NOT NULL}),
	'0', 'no member has a change log');
is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM unnest(ARRAY[$member_list]) i, LATERAL ir_changes(i)}),
	'0', 'and ir_changes shows no write of any member');

# the run applies again, in full, parents first (the trigger lets it pass now)
is( $node->safe_psql('postgres', qq{
		SELECT string_agg(target || ' ' || inserted || '/' || updated || '/' || unchanged, ', ')
		  FROM ir_run_apply($run)}),
	'public.customers ' . ($rows / 2) . '/' . ($rows / 2) . '/0, '
	  . 'public.orders ' . ($rows / 2) . '/' . ($rows / 4) . '/0',
	'the run applies again after the restart');
like(run_state(), qr/^applied applied_at:\d/, 'the run is applied');
is( $node->safe_psql('postgres', qq{
		SELECT string_agg(state, ',') FROM ir_batches WHERE batch_id IN ($member_list)}),
	'applied,applied', 'and so is every member');
my $tables_applied = tables_md5();
isnt($tables_applied, $tables_before, 'and the targets changed');
$node->safe_psql('postgres', 'DROP TRIGGER hold ON orders');

# 2. killed in the middle of ir_run_rollback: orders (rolled back first)
#    restored, customers held
$run_before = run_state();
$members_before = members_state();
note("run: $run_before");
note("members: $members_before");
crash_during("SELECT * FROM ir_run_rollback($run)",
	'CREATE TRIGGER hold BEFORE UPDATE OR DELETE ON customers FOR EACH ROW EXECUTE FUNCTION hold_row()',
	'orders');

is(tables_md5(), $tables_applied, 'after a crash during the run\'s rollback both targets are as applied');
is(run_state(), $run_before, 'the run is as before: applied, no new event');
is(members_state(), $members_before, 'every member is as before: applied, no new event');
is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM unnest(ARRAY[$member_list]) i, LATERAL ir_changes(i)
		 WHERE action LIKE 'undo%'}),
	'0', 'and no member\'s log holds an undo');

is( $node->safe_psql('postgres', qq{
		SELECT string_agg(target || ' ' || deleted || '/' || restored || '/' || conflicts, ', ')
		  FROM ir_run_rollback($run)}),
	'public.orders ' . ($rows / 2) . '/' . ($rows / 4) . '/0, '
	  . 'public.customers ' . ($rows / 2) . '/' . ($rows / 2) . '/0',
	'the run rolls back again after the restart, in reverse');
is(tables_md5(), $tables_before, 'and both targets are exactly as before the run');
like(run_state(), qr/^rolled_back applied_at:\d.* rolled_back_at:\d/, 'the run is rolled back');
is( $node->safe_psql('postgres', qq{
		SELECT string_agg(state, ',') FROM ir_batches WHERE batch_id IN ($member_list)}),
	'rolled_back,rolled_back', 'and so is every member');

$node->stop;
done_testing();
