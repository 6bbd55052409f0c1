# stage of a large file: larger than 1 GiB when the file system has room
# for it (the file, its large object, the staging table and their WAL:
# 12 GB free), else 200 MB.  Every row arrives, the SHA-256 is the
# file's, the large object is gone afterwards, the client's memory stays
# small whatever the size (peak RSS sampled from /proc while it runs), and
# the progress on a non-terminal is a line per update, at most about one
# a second, then the rows staged.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use Cwd ();
use Digest::SHA;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use IrClient;

my $node = client_node('client_large');
$node->safe_psql('postgres', 'CREATE TABLE wide (id bigint PRIMARY KEY, payload text)');

# the server writes the file: an absolute path
my $dir = Cwd::abs_path($node->basedir);
my ($free_kb) = (`df -Pk '$dir'` =~ /\n\S+\s+\d+\s+\d+\s+(\d+)/);
my $big = defined $free_kb && $free_kb > 12 * 1024 * 1024;
# a row is 960 bytes of payload and its id: 1.2 million rows make 1.1 GiB
my $rows = $big ? 1_200_000 : 215_000;
note(sprintf('%.1f GB free in %s: staging a %s', ($free_kb // 0) / 1048576, $dir,
	$big ? 'file larger than 1 GiB' : '200 MB file'));

my $file = "$dir/large.csv";
$node->safe_psql('postgres', qq{
	COPY (SELECT g AS id, repeat(md5(g::text), 30) AS payload FROM generate_series(1, $rows) g)
	  TO '$file' WITH (FORMAT csv, HEADER true);
});
my $size = -s $file;
ok($big ? $size > 1024 * 1024 * 1024 : $size > 200 * 1000 * 1000,
	sprintf('the file has %.0f MB', $size / 1048576));

my ($out, $err) = ('', '');
my $t0 = time;
my $h = IPC::Run::start([ 'import_rollback', '-d', $node->connstr('postgres'),
	'stage', $file, '-t', 'wide', '-P' ], '<', \'', '>', \$out, '2>', \$err);
# IPC::Run keeps its children's pids here
my $pid = $h->{KIDS}[0]{PID};
my $peak_kb = 0;
while ($h->pumpable)
{
	if (open(my $st, '<', "/proc/$pid/status"))
	{
		while (<$st>)
		{
			$peak_kb = $1 if /^VmHWM:\s+(\d+) kB/ && $1 > $peak_kb;
		}
		close($st);
	}
	$h->pump_nb;
	usleep(100_000);
}
$h->finish;
my $elapsed = time - $t0;
is($h->result(0), 0, 'stage of the large file: exit 0');
like($out, qr/^\d+\n\z/, 'the batch id on stdout');
chomp(my $b = $out);
note(sprintf('staged %d MB in %.1f s; client peak RSS %.1f MB', $size / 1048576, $elapsed, $peak_kb / 1024));
ok($peak_kb > 0 && $peak_kb < 64 * 1024,
	sprintf('the client\'s memory stays bounded: peak RSS %.1f MB for a %.0f MB file', $peak_kb / 1024, $size / 1048576));

is($node->safe_psql('postgres', "SELECT state, rows_total, rows_rejected, source_bytes FROM ir_batches WHERE batch_id = $b"),
	"staged|$rows|0|$size", 'every row staged, none rejected, every byte counted');
is($node->safe_psql('postgres', "SELECT source_sha256 FROM ir_batches WHERE batch_id = $b"),
	Digest::SHA->new(256)->addfile($file)->hexdigest, 'the SHA-256 is the file\'s');
is(lo_count($node), '0', 'the large object is gone');

my @uploads = $err =~ /^uploading: \d+\/\d+ kB \(\d+%\), [\d.]+ MB\/s$/mg;
ok(@uploads >= 1, scalar(@uploads) . ' upload progress lines');
ok(@uploads <= $elapsed + 2, 'at most about one upload line a second');
like($err, qr/^uploading: \d+\/\d+ kB \(100%\)/m, 'the upload reaches 100%');
like($err, qr/^staging: \d+\/\d+ kB \(\d+%\) read by the server, \d+ s$/m,
	'the server\'s reading of the file, from pg_stat_progress_copy');
like($err, qr/^staged: $rows rows \(0 malformed\), \d+ kB in [\d.]+ s\n\z/m, 'then the rows staged, last');
unlike($err, qr/\r/, 'no carriage return: standard error is not a terminal');

$node->stop;
done_testing();
