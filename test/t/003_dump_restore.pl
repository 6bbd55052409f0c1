# pg_dump and restore keep everything a batch needs: the catalog (extension
# config tables, runs included), the per-batch staging and change-log
# tables, and the change-log triggers on the target.  After restoring into a new database,
# rejects and changes read the same, an applied batch rolls back exactly,
# and a validated batch applies.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump_restore');
$node->init;
$node->start;

# pg_dump refuses a newer server: on a major whose pg_dump this machine
# cannot run (tools/pgmajor.sh), there is nothing to test.
my $server_major = int($node->safe_psql('postgres', 'SHOW server_version_num') / 10000);
my ($dump_major) = (`pg_dump --version` =~ /(\d+)(?:\.\d+)?/);
if (!defined $dump_major || $dump_major < $server_major)
{
	$node->stop;
	plan skip_all => "pg_dump " . ($dump_major // 'missing')
	  . " cannot dump a PostgreSQL $server_major server";
}
$node->safe_psql('postgres', q{
	CREATE DATABASE copy;
	CREATE EXTENSION import_rollback;
	CREATE TABLE prices (sku text PRIMARY KEY, price numeric, note text);
	INSERT INTO prices SELECT 'P-' || g, g + 0.5, 'old' FROM generate_series(1, 5) g;
	CREATE TABLE prices_before AS SELECT * FROM prices;
});

# An applied batch (updates, an insert, a rejected row) and a validated one.
my $applied = $node->safe_psql('postgres', q{
	SELECT ir_stage('prices', 'monday.csv',
	                E'sku,price,note\nP-1,1.990,new\nP-2,x,bad\nP-9,9.00,created\n',
	                '{"rules": {"max_reject_ratio": 0.5, "mapping_check": "off"}}')});
$node->safe_psql('postgres', "SELECT ir_apply($applied)");
my $pending = $node->safe_psql('postgres', q{
	SELECT ir_stage('prices', 'tuesday.csv', E'sku,note\nP-3,tuesday\n',
	                '{"rules": {"mapping_check": "off"}}')});
$node->safe_psql('postgres', "SELECT ir_validate($pending)");

# An applied run of two members (a parent and a child table).
$node->safe_psql('postgres', q{
	CREATE TABLE suppliers (id int PRIMARY KEY, name text);
	CREATE TABLE supplies (sku text REFERENCES prices, supplier int REFERENCES suppliers,
	                       PRIMARY KEY (sku, supplier));
});
my $run = $node->safe_psql('postgres', q{SELECT ir_run_create('suppliers')});
$node->safe_psql('postgres', qq{
	SELECT ir_stage('supplies', 'supplies.csv', E'sku,supplier\nP-1,7\n',
	                '{"run": $run, "rules": {"mapping_check": "off"}}');
	SELECT ir_stage('suppliers', 'suppliers.csv', E'id,name\n7,Acme\n',
	                '{"run": $run, "rules": {"mapping_check": "off"}}');
	SELECT count(*) FROM ir_run_apply($run);
});

my $reports = qq{
	SELECT batch_id, state, rows_total, rows_valid, rows_rejected, inserted, updated
	  FROM ir_batches ORDER BY batch_id;
	SELECT row_no, errors FROM ir_rejects($applied);
	SELECT change_id, row_no, action, record_key, old_values, new_values
	  FROM ir_changes($applied) ORDER BY change_id;
	SELECT run_id, name, state, batches FROM ir_runs ORDER BY run_id;
	SELECT run_id, from_state, to_state FROM ir_run_events ORDER BY event_id;
	SELECT batch_id, run_id FROM ir_batches WHERE run_id IS NOT NULL ORDER BY batch_id;
};
my $before = $node->safe_psql('postgres', $reports);

my $dump = $node->basedir . '/dump.sql';
$node->command_ok([ 'pg_dump', '-f', $dump, '-d', $node->connstr('postgres') ],
	'pg_dump succeeds');
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $dump, '-d', $node->connstr('copy') ],
	'the dump restores without errors');

is($node->safe_psql('copy', $reports), $before,
	'batches, rejects and changes read the same after restore');
is( $node->safe_psql('copy',
		q{SELECT tgname FROM pg_trigger WHERE tgrelid = 'prices'::regclass AND NOT tgisinternal ORDER BY 1}),
	"import_rollback_changelog\nimport_rollback_truncate",
	'the change-log triggers are restored');

is( $node->safe_psql('copy',
		qq{SELECT string_agg(target || ' ' || deleted, ',') FROM ir_run_rollback($run)}),
	'public.supplies 1,public.suppliers 1', 'the restored run rolls back, child first');
is($node->safe_psql('copy', "SELECT deleted, restored, conflicts FROM ir_rollback($applied)"),
	'1|1|0', 'the applied batch rolls back in the restored database');
is( $node->safe_psql('copy',
		q{SELECT count(*) FROM (SELECT * FROM prices EXCEPT SELECT * FROM prices_before) d}),
	'0', 'the rollback restored the target exactly');
is($node->safe_psql('copy', "SELECT updated FROM ir_apply($pending)"),
	'1', 'the validated batch applies in the restored database');
is( $node->safe_psql('copy',
		q{SELECT count(*) FROM ir_changes(}
		  . $pending . q{) WHERE action = 'update' AND new_values->>'note' = 'tuesday'}),
	'1', 'its write is logged by the restored trigger');
is( $node->safe_psql('copy',
		q{SELECT ir_stage('prices', 'wednesday.csv', E'sku,note\nP-4,x\n') > }
		  . $pending),
	't', 'new batch ids continue after the restored ones');

$node->stop;
done_testing();
