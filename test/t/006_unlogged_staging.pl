# import_rollback.unlogged_staging: staging tables are UNLOGGED, so crash
# recovery empties them.  After a crash a batch not yet applied fails at
# its next validation or apply (a WARNING, the batch "failed", no error
# that would undo that), reports on its rows say they were lost, and an
# applied batch still rolls back exactly: its change log is always logged.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('unlogged_staging');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION import_rollback;
	CREATE TABLE accounts (id int PRIMARY KEY, balance numeric);
	INSERT INTO accounts VALUES (1, 100), (2, 200);
});

my $csv = q{E'id,balance\n1,150\n3,300\n'};
my $opts = q{SET import_rollback.unlogged_staging = on;};
my $staged = $node->safe_psql('postgres', "$opts SELECT ir_stage('accounts', 'a.csv', $csv)");
my $validated = $node->safe_psql('postgres', "$opts SELECT ir_stage('accounts', 'b.csv', $csv)");
$node->safe_psql('postgres', "SELECT ir_validate($validated)");
my $applied = $node->safe_psql('postgres', "$opts SELECT ir_stage('accounts', 'c.csv', $csv)");
$node->safe_psql('postgres', "SELECT ir_apply($applied)");
my $logged = $node->safe_psql('postgres', "SELECT ir_stage('accounts', 'd.csv', $csv)");

is( $node->safe_psql('postgres',
		"SELECT relpersistence FROM pg_class WHERE relname = 'stage_$staged'"),
	'u', 'the staging table is UNLOGGED');

$node->stop('immediate');
$node->start;

my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT state || ' ' || stop_reason FROM ir_validate($staged)");
is($out, 'failed the staged rows were lost in a crash (UNLOGGED staging)',
	'validation of a staged batch whose rows a crash emptied fails it');
like($err, qr/WARNING:  batch $staged failed: its staged rows were lost in a crash/,
	'with a WARNING');
is( $node->safe_psql('postgres', "SELECT state FROM ir_batches WHERE batch_id = $staged"),
	'failed', 'and the batch stays failed');

($ret, $out, $err) = $node->psql('postgres',
	"SELECT inserted || ' ' || updated FROM ir_apply($validated)");
is($out, '0 0', 'an apply of a validated batch whose rows were lost writes nothing');
like($err, qr/WARNING:  batch $validated failed/, 'and warns');
is( $node->safe_psql('postgres',
		"SELECT state || ' ' || last_error FROM ir_batches WHERE batch_id = $validated"),
	'failed a crash emptied its UNLOGGED staging table; stage the file again',
	'the batch failed, saying why');

($ret, $out, $err) = $node->psql('postgres', "SELECT * FROM ir_rejects($staged)",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55000: the staged rows of batch $staged were lost in a crash/,
	'reports on the lost rows say so');

is($node->safe_psql('postgres', q{SELECT id || ':' || balance FROM accounts ORDER BY id}),
	"1:150\n2:200\n3:300", 'the applied batch\'s writes are there');
is( $node->safe_psql('postgres', "SELECT deleted || ' ' || restored FROM ir_rollback($applied)"),
	'1 1', 'and it still rolls back: its change log is logged');
is($node->safe_psql('postgres', q{SELECT id || ':' || balance FROM accounts ORDER BY id}),
	"1:100\n2:200", 'exactly');

is( $node->safe_psql('postgres', "SELECT state FROM ir_validate($logged)"),
	'validated', 'a batch staged without the setting is untouched by the crash');

$node->stop;
done_testing();
