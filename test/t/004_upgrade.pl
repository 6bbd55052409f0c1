# ALTER EXTENSION import_rollback UPDATE carries live 0.1.0 batches over.
#
# test/fixtures/upgrade/batches-0.1.0.sql is a database made by the
# released 0.1.0 library (generate-0.1.0.sh): batches left staged,
# validated, failed, cancelled, applied (one with a later batch on the same
# records) and rolled back.  Restored here, it is at version 0.1.0 under
# the current library: the library refuses to work with the old SQL
# objects (cleanly, no crash) while application writes to tracked tables
# go on.  After the update every live batch validates, applies and rolls
# back exactly, and the updated extension's objects equal a fresh install's.
use strict;
use warnings;

use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fixture = dirname(__FILE__) . '/../fixtures/upgrade/batches-0.1.0.sql';
my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE ROLE ir_loader LOGIN;
	CREATE DATABASE upgraded;
	CREATE DATABASE fresh;
});
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $fixture, '-d', $node->connstr('upgraded') ],
	'the 0.1.0 database restores');
is($node->safe_psql('upgraded', q{SELECT extversion FROM pg_extension WHERE extname = 'import_rollback'}),
	'0.1.0', 'it is at version 0.1.0');

# The current library under the 0.1.0 SQL objects: refusals, not crashes.
my ($rc, $out, $err) = $node->psql('upgraded', 'SELECT * FROM ir_validate(3)');
isnt($rc, 0, 'an operation under the old SQL objects fails');
like($err, qr/is installed at version 0\.1\.0, but its library is version 0\.2\.0.*ALTER EXTENSION import_rollback UPDATE/s,
	'... saying to update the extension');
($rc, $out, $err) = $node->psql('upgraded', 'SELECT * FROM ir_rollback(1)');
like($err, qr/ALTER EXTENSION import_rollback UPDATE/, 'a rollback is refused the same way');
is($node->safe_psql('upgraded', q{SELECT state, count(*) FROM ir_batches GROUP BY 1 ORDER BY 1}),
	"applied|2\ncancelled|1\nfailed|1\nrolled_back|1\nstaged|1\nvalidated|1",
	'the old report view still reads');
# application writes to tracked tables never depend on the update
$node->safe_psql('upgraded', q{UPDATE customers SET name = 'by hand' WHERE id = 10});
is($node->safe_psql('upgraded', q{SELECT name FROM customers WHERE id = 10}), 'by hand',
	'a plain UPDATE of a tracked table works before the update');

$node->safe_psql('upgraded', 'ALTER EXTENSION import_rollback UPDATE');
is($node->safe_psql('upgraded', q{SELECT extversion FROM pg_extension WHERE extname = 'import_rollback'}),
	'0.2.0', 'ALTER EXTENSION import_rollback UPDATE reaches 0.2.0');

is($node->safe_psql('upgraded', q{SELECT count(*) FROM import_rollback.batch WHERE target_relid IS NULL}),
	'0', 'every 0.1.0 batch is bound to its table itself after the update');

# Every live batch goes on.  The applied one first: a later batch (7)
# wrote the same field of one of its records, so its cascade plan is 7,
# then itself.
is( $node->safe_psql('upgraded',
		q{SELECT string_agg(step || ':' || batch_id, ',' ORDER BY step) FROM ir_rollback_plan(1)}),
	'1:7,2:1', 'the cascade plan of a 0.1.0 batch reads the 0.1.0 change logs');
($rc, $out, $err) = $node->psql('upgraded', 'SELECT * FROM ir_rollback(1)');
like($err, qr/\(2\) has changed name \(by batch 7\)/,
	'the applied 0.1.0 batch refuses to roll back over the later batch, naming it');
is($node->safe_psql('upgraded', 'SELECT deleted, restored, conflicts FROM ir_rollback(7)'),
	'0|1|0', 'the later batch rolls back');
is($node->safe_psql('upgraded', 'SELECT deleted, restored, conflicts FROM ir_rollback(1)'),
	'2|2|0', 'then the 0.1.0 batch rolls back: 2 created records deleted, 2 restored');
is( $node->safe_psql('upgraded', q{
		SELECT count(*) FROM (
		  (SELECT * FROM customers EXCEPT SELECT * FROM customers_before)
		  UNION ALL (SELECT * FROM customers_before EXCEPT SELECT * FROM customers)) d
		 WHERE d.id <> 10}),
	'0', 'customers are exactly as before any batch (but for the plain update)');
is($node->safe_psql('upgraded', q{SELECT string_agg(action, ',' ORDER BY change_id) FROM ir_changes(1)}),
	'update,update,insert,insert,undo_update,undo_update,undo_insert,undo_insert',
	"ir_changes lists the 0.1.0 apply's writes, then the rollback's");

# the validated batch applies and rolls back
is($node->safe_psql('upgraded', 'SELECT inserted, updated, unchanged, rejected FROM ir_apply(2)'),
	'1|1|0|0', 'the validated 0.1.0 batch applies');
is($node->safe_psql('upgraded', 'SELECT deleted, restored, conflicts FROM ir_rollback(2)'),
	'1|1|0', 'and rolls back');

# the staged batch validates, applies, rolls back
is($node->safe_psql('upgraded', q{SELECT state, rows_valid FROM ir_validate(3, '{"rules": {"mapping_check": "off"}}')}),
	'validated|3', 'the staged 0.1.0 batch validates');
is($node->safe_psql('upgraded', 'SELECT inserted, updated FROM ir_apply(3)'), '1|2', 'applies');
is($node->safe_psql('upgraded', 'SELECT deleted, restored, conflicts FROM ir_rollback(3)'),
	'1|2|0', 'and rolls back');

# the failed batch is corrected without re-uploading
is( $node->safe_psql('upgraded',
		q{SELECT state, rows_valid, rows_rejected FROM ir_validate(4, '{"rules": {"max_reject_ratio": 1, "mapping_check": "off"}}')}),
	'validated|1|1', 'the failed 0.1.0 batch validates with corrected rules, its reject kept');
is($node->safe_psql('upgraded', 'SELECT updated, rejected FROM ir_apply(4)'), '1|1', 'applies');
is($node->safe_psql('upgraded', 'SELECT deleted, restored, conflicts FROM ir_rollback(4)'),
	'0|1|0', 'and rolls back');
is( $node->safe_psql('upgraded', q{
		SELECT count(*) FROM (
		  (SELECT * FROM products EXCEPT SELECT * FROM products_before)
		  UNION ALL (SELECT * FROM products_before EXCEPT SELECT * FROM products)) d}),
	'0', 'products are exactly as before any batch');

# ended batches stay ended, and new ones work beside them
($rc, $out, $err) = $node->psql('upgraded', 'SELECT * FROM ir_apply(5)');
like($err, qr/batch 5 is cancelled and cannot be applied/, 'the cancelled 0.1.0 batch stays cancelled');
($rc, $out, $err) = $node->psql('upgraded', 'SELECT * FROM ir_rollback(6)');
like($err, qr/batch 6 has already been rolled back/, 'the rolled-back one stays rolled back');
is( $node->safe_psql('upgraded',
		q{SELECT ir_stage('customers', 'new.csv', E'id,email\n200,n200@example.net\n', '{"rules": {"mapping_check": "off"}}') > 7}),
	't', 'new batches continue the old ids');

# runs, guards and cascades on the updated catalog (batches of 0.1.0 have
# no run), beside the 0.1.0 batches
my $run = $node->safe_psql('upgraded', q{SELECT ir_run_create('after the update')});
$node->safe_psql('upgraded', qq{
	SELECT ir_stage('customers', 'run-c.csv', E'id,email\n300,r300\@example.net\n',
	                '{"run": $run, "rules": {"mapping_check": "off"}}');
	SELECT ir_stage('products', 'run-p.csv', E'sku,price\nRUN-1,9\n',
	                '{"run": $run, "key": ["sku"], "rules": {"mapping_check": "off"},
	                  "guards": {"blank": {"price": 0}}}')});
is( $node->safe_psql('upgraded',
		qq{SELECT string_agg(target || ' ' || inserted, ',' ORDER BY batch_id) FROM ir_run_apply($run)}),
	'public.customers 1,public.products 1', 'a run applies on the updated database');
is($node->safe_psql('upgraded', qq{SELECT state || ' ' || batches FROM ir_runs WHERE run_id = $run}),
	'applied 2', 'and is listed by ir_runs');
is($node->safe_psql('upgraded', qq{SELECT sum(deleted) FROM ir_run_rollback($run)}),
	'2', 'and rolls back');
is($node->safe_psql('upgraded', q{SELECT count(*) FROM customers WHERE id = 300}), '0',
	'leaving nothing of it');
is($node->safe_psql('upgraded', q{SELECT count(*) FROM ir_batches WHERE run_id IS NOT NULL AND batch_id <= 7}),
	'0', 'the 0.1.0 batches belong to no run');

# 0.2.0's additions work on the updated database and its 0.1.0 batches:
# a keyed ir_changes (a 0.1.0 log has no key index: it reads the log),
# large-object staging, and the purge of the ended 0.1.0 batches
is( $node->safe_psql('upgraded', q{
		SELECT count(*) FROM ir_changes(1, (SELECT record_key FROM ir_changes(1) ORDER BY change_id LIMIT 1))}),
	$node->safe_psql('upgraded', q{
		SELECT count(*) FROM ir_changes(1)
		 WHERE record_key = (SELECT record_key FROM ir_changes(1) ORDER BY change_id LIMIT 1)}),
	'a keyed ir_changes of a 0.1.0 batch finds that record\'s writes');
is( $node->safe_psql('upgraded', q{
		SELECT mapped->>'email' FROM ir_sample(
		  (SELECT b FROM ir_stage('customers', 'tf.csv', E'id,email\n202,  N202@Example.NET \n',
		     '{"mapping": {"id": "id", "email": {"column": "email", "transform": ["trim", "lower"]}},
		       "rules": {"mapping_check": "off"}}') b,
		   LATERAL ir_validate(b)), 1)}),
	'n202@example.net', 'a mapping with transforms validates on the updated database');
my $lo = $node->safe_psql('upgraded',
	q{SELECT lo_from_bytea(0, convert_to(E'id,email\n201,n201@example.net\n', 'UTF8'))});
my $lob = $node->safe_psql('upgraded', "SELECT ir_stage_large_object('customers', 'lo.csv', $lo)");
is($node->safe_psql('upgraded', "SELECT state || ' ' || load_method FROM ir_batches WHERE batch_id = $lob"),
	'staged large_object', 'a large object stages into the updated catalog');
is( $node->safe_psql('upgraded', q{
		SELECT string_agg(batch_id || ' ' || state, ',' ORDER BY batch_id)
		  FROM ir_purge('0', '{"applied": true}') WHERE batch_id <= 7}),
	'1 rolled_back,2 rolled_back,3 rolled_back,4 rolled_back,5 cancelled,6 rolled_back,7 rolled_back',
	'ir_purge takes the ended 0.1.0 batches');
($rc, $out, $err) = $node->psql('upgraded', 'SELECT * FROM ir_rejects(4)');
like($err, qr/batch 4 was purged at/, 'and reports on them say so');

# The updated extension holds exactly the objects of a fresh 0.2.0 install.
$node->safe_psql('fresh', 'CREATE EXTENSION import_rollback');
my $objects = q{
	SELECT 'function ' || p.oid::regprocedure::text || ' returns ' || pg_get_function_result(p.oid)
	       || ' ' || p.provolatile::text || p.proparallel::text || CASE WHEN p.proisstrict THEN ' strict' ELSE '' END
	       || ' ' || coalesce(p.prosrc, '') || ' ' || coalesce(array_to_string(p.proacl, ','), 'default acl')
	       || coalesce(' ' || obj_description(p.oid, 'pg_proc'), '')
	  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'import_rollback'
	UNION ALL
	SELECT c.relkind::text || ' ' || c.oid::regclass::text || ' ' || coalesce(array_to_string(c.relacl, ','), 'default acl')
	       || coalesce(' ' || obj_description(c.oid, 'pg_class'), '')
	       || CASE WHEN c.relkind = 'v' THEN ' ' || pg_get_viewdef(c.oid) ELSE '' END
	  FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'import_rollback'
	UNION ALL
	SELECT 'column ' || a.attrelid::regclass::text || '.' || a.attname || ' #' || a.attnum || ' ' || format_type(a.atttypid, a.atttypmod)
	       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
	       || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
	  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'import_rollback'
	  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
	 WHERE a.attnum > 0 AND NOT a.attisdropped
	UNION ALL
	SELECT 'constraint ' || conrelid::regclass::text || ' ' || pg_get_constraintdef(oid)
	  FROM pg_constraint WHERE connamespace = 'import_rollback'::regnamespace
	   AND conrelid::regclass::text !~ '^import_rollback\.(stage|changes)_[0-9]+$'
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index
	 WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'import_rollback'::regnamespace
	                     AND relname NOT LIKE 'stage\_%' AND relname NOT LIKE 'changes\_%')
	UNION ALL
	SELECT 'schema ' || nspname || ' ' || coalesce(array_to_string(nspacl, ','), 'default acl')
	  FROM pg_namespace WHERE nspname = 'import_rollback'
	UNION ALL
	SELECT 'config ' || unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = 'import_rollback'
	UNION ALL
	SELECT 'event trigger ' || evtname || ' ' || evtevent || ' ' || evtfoid::regprocedure::text
	       || ' ' || evtenabled::text
	  FROM pg_event_trigger
	ORDER BY 1};
my $fresh = $node->safe_psql('fresh', $objects);
my $updated = $node->safe_psql('upgraded', $objects);
is($updated, $fresh, 'the updated extension has the objects of a fresh install, with the same signatures, grants and comments');
cmp_ok(scalar(() = $fresh =~ /^function /mg), '>=', 20, '(and the comparison saw the functions)');

$node->stop;
done_testing();
