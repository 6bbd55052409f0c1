# Crash safety of staging: a server killed (immediate stop) while a file is
# being staged leaves no half batch behind; a client-path batch survives in
# state "received" and can be loaded again; staged batches and their raw
# rows survive the crash.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('stage_crash');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION import_rollback;
	CREATE TABLE customers (id int PRIMARY KEY, name text, email text);
});

my $rows = 2000000;
my $file = $node->basedir . '/customers.csv';
$node->safe_psql('postgres', qq{
	COPY (SELECT g, 'name ' || g, 'user' || g || '\@example.com'
	        FROM generate_series(1, $rows) g)
	  TO '$file' WITH (FORMAT csv, HEADER true);
});

# A committed, staged batch.
my $kept = $node->safe_psql('postgres',
	q{SELECT ir_stage('customers', 'small.csv', E'id,name\n1,"a, b"\n2,c\n')});

# Start a long-running statement in the background, wait until COPY's
# parser has read well into the file, then kill the server.
sub crash_during
{
	my ($sql, $stdin) = @_;
	my ($out, $err) = ('', '');
	my @cmd = ('psql', '-X', '-d', $node->connstr('postgres'), '-c', $sql);
	my $h = defined $stdin
	  ? IPC::Run::start(\@cmd, '<', $stdin, '>', \$out, '2>', \$err)
	  : IPC::Run::start(\@cmd, '>', \$out, '2>', \$err);
	ok( $node->poll_query_until('postgres',
			q{SELECT EXISTS (SELECT 1 FROM pg_stat_progress_copy
			                  WHERE bytes_processed > 4000000)}),
		'staging is under way');
	$node->stop('immediate');
	$h->finish;
	$node->start;
}

# 1. ir_stage_file killed mid-file: the transaction never committed, so no
#    batch row and no staging table exist after restart.
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM ir_batches');
crash_during("SELECT ir_stage_file('customers', '$file')");
is($node->safe_psql('postgres', 'SELECT count(*) FROM ir_batches'),
	$before, 'no batch is left by a staging killed mid-file');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_class
		   WHERE relnamespace = 'import_rollback'::regnamespace
		     AND relname LIKE 'stage\_%' AND relkind = 'r'}),
	$before, 'no staging table is left either');

# 2. The committed batch and its raw rows survived.
is( $node->safe_psql('postgres',
		"SELECT state || ' ' || rows_total FROM ir_batches WHERE batch_id = $kept"),
	'staged 2', 'a staged batch survives the crash');
is( $node->safe_psql('postgres',
		"SELECT string_agg(c2, '|' ORDER BY row_no) FROM import_rollback.stage_$kept"),
	'a, b|c', 'its raw rows survive the crash');

# 3. Client path: the batch is committed before the COPY starts; a crash
#    during the COPY leaves it "received" and empty, ready to load again.
my $b = $node->safe_psql('postgres',
	q{SELECT ir_stage_begin('customers', 'big.csv', ARRAY['id', 'name', 'email'])});
my $copy = $node->safe_psql('postgres', "SELECT ir_stage_copy_command($b)");
crash_during($copy, $file);
is( $node->safe_psql('postgres',
		"SELECT state FROM ir_batches WHERE batch_id = $b"),
	'received', 'a client batch killed during COPY is still received');
is($node->safe_psql('postgres', "SELECT count(*) FROM import_rollback.stage_$b"),
	'0', 'and its staging table is empty');

my ($stdout, $stderr);
IPC::Run::run([ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', $copy ],
	'<', $file, '>', \$stdout, '2>', \$stderr)
  or die "COPY failed: $stderr";
is($node->safe_psql('postgres', "SELECT ir_stage_finish($b)"),
	$rows, 'the same batch loads in full after the restart');
is( $node->safe_psql('postgres',
		"SELECT min(row_no) || '..' || max(row_no) || ' ' || count(DISTINCT row_no)
		   FROM import_rollback.stage_$b"),
	"1..$rows $rows", 'rows are numbered 1..N in file order');
is( $node->safe_psql('postgres',
		"SELECT c3 FROM import_rollback.stage_$b WHERE row_no = $rows"),
	"user$rows\@example.com", 'the last row is the last record of the file');

$node->stop;
done_testing();
