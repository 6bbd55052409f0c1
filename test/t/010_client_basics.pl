# The command-line client import_rollback: --help, --version, usage
# errors (exit 2), every subcommand on a real cluster with its exit status
# (0 done, 1 error, 3 validation stopped, 4 rollback conflicts, 5 a guard
# tripped: real guards, on_guard "fail" and "error", batches and runs),
# files with malformed rows, empty, header-only, missing, unreadable, a
# directory, standard input, the non-terminal progress format, runs
# (stage --run, import --run through ir_run_apply, a member's refusals),
# cascade rollback and its plan, --json validity everywhere, the HTML
# report, and connecting by conninfo, URI, -h/-p, PG* variables and a
# service file.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IrClient;

my $node = client_node('client_basics');
my $conn = $node->connstr('postgres');
my @ir = ('import_rollback', '-d', $conn);
my $json = JSON::PP->new;

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub state_of { return sql("SELECT state FROM ir_batches WHERE batch_id = $_[0]"); }

# the elements of a decoded JSON array; none when it is something else
# (which a test of its own reports), so that the script goes on
sub elements { return ref $_[0] eq 'ARRAY' ? @{ $_[0] } : (); }
# the values of some keys of a decoded JSON object; none when it is not one
sub fields { my ($h, @keys) = @_; return ref $h eq 'HASH' ? @$h{@keys} : (); }

sub decodes
{
	my ($text, $what) = @_;
	my $doc = eval { $json->decode($text) };
	ok(defined $doc, "$what: valid JSON") or diag("$@: $text");
	return $doc;
}

# ---------------------------------------------------------------------------
# the program itself

program_help_ok('import_rollback');
program_version_ok('import_rollback');
program_options_handling_ok('import_rollback');
command_like([ 'import_rollback', '--help' ],
	qr/Usage:.*Commands:.*import FILE.*stage FILE.*validate BATCH.*rejects BATCH.*sample BATCH.*preview BATCH.*apply BATCH.*rollback BATCH.*drill BATCH.*plan BATCH.*status BATCH.*history.*Options for stage and import:.*--map.*--key.*--options.*--run.*--progress.*--yes.*Options for rollback:.*--on-conflict.*General options:.*--json.*--version.*--help.*Connection options:.*--dbname.*--host.*--port.*--username.*--no-password.*--password.*Exit status:.*0  done.*1  an error.*2  wrong usage.*3  the validation stopped.*4  the rollback found conflicts.*5  a guard tripped/s,
	'--help lists every command, option group and exit status');
command_like([ 'import_rollback', '-V' ], qr/^import_rollback \(import_rollback\) \d+\.\d+\.\d+$/,
	'-V prints the version');

# ---------------------------------------------------------------------------
# usage errors: exit 2, before any connection (a port nothing listens on)

my @nowhere = ('import_rollback', '-d', 'host=/nonexistent port=1');
for my $case (
	[ [], qr/no command given/ ],
	[ ['frobnicate'], qr/unknown command "frobnicate"/ ],
	[ ['stage'], qr/stage takes one FILE/ ],
	[ [ 'stage', 'x.csv' ], qr/stage needs --target TABLE/ ],
	[ [ 'validate', 'abc' ], qr/BATCH must be a positive number, not "abc"/ ],
	[ [ 'validate', '0' ], qr/BATCH must be a positive number/ ],
	[ [ 'validate', '1', '--yes' ], qr/validate does not take --yes/ ],
	[ [ 'history', '1' ], qr/history takes no argument/ ],
	[ [ 'history', '--json', '--html', 'x.html' ], qr/--json and --html cannot go together/ ],
	[ [ 'cancel', '1' ], qr/cancel needs --reason TEXT/ ],
	[ [ 'purge' ], qr/purge needs --older-than INTERVAL/ ],
	[ [ 'rollback', '1', '--on-conflict', 'maybe' ], qr/--on-conflict must be abort, skip or force/ ],
	[ [ 'rollback', '1', '--status', 'conflict' ], qr/--status goes with --preview/ ],
	[ [ 'stage', 'x.csv', '-t', 'c', '--map', 'nonsense' ], qr/--map takes SRC=COL/ ],
	[ [ 'stage', 'x.csv', '-t', 'c', '--run', 'x' ], qr/--run must be a positive number/ ],
	[ [ 'apply', '1', '--run', '3' ], qr/apply does not take --run/ ],
	[ [ 'plan', '1', '--cascade' ], qr/plan does not take --on-conflict or --cascade/ ],
	[ [ 'import', fixture('customers.csv'), '-t', 'customers' ],
		qr/standard input is not a terminal: give --yes/ ],
	[ [ 'import', '-', '-t', 'customers' ], qr/import from standard input needs --yes/ ],
	[ [ 'import', fixture('customers.csv'), '-t', 'customers', '--json' ], qr/import --json needs --yes/ ],
	[ [ '--bogus', 'history' ], qr/unrecognized option/ ])
{
	my ($args, $re) = @$case;
	my ($rc, $out, $err) = run_client(undef, [ '-d', 'host=/nonexistent port=1', @$args ]);
	is($rc, 2, "usage error, exit 2: @$args");
	like($err, $re, "usage error says so: @$args");
	like($err, qr/Try "import_rollback --help"/, "usage error points at --help: @$args")
	  unless "@$args" =~ /^$/;
}

# the import refusal comes before anything is staged
is(batch_count($node), '0', 'a refused import staged nothing');

# ---------------------------------------------------------------------------
# stage

my ($rc, $out, $err) = run_client($node, [ 'stage', fixture('customers.csv'), '-t', 'customers', '-P' ]);
is($rc, 0, 'stage: exit 0');
like($out, qr/^\d+\n\z/, 'stage: the batch id alone on stdout');
chomp(my $b1 = $out);
is( sql("SELECT state, rows_total, rows_rejected, source_name, load_method FROM ir_batches WHERE batch_id = $b1"),
	'staged|45|1|customers.csv|large_object',
	'stage: 45 records staged, the malformed one kept as a reject, named after the file');
is(sql("SELECT source_sha256 FROM ir_batches WHERE batch_id = $b1"),
	sql("SELECT encode(sha256(pg_read_binary_file('" . fixture('customers.csv') . "')), 'hex')"),
	'stage: the SHA-256 is the file\'s');
is(lo_count($node), '0', 'stage: the large object is gone once staged');
like($err, qr/^uploading: \d+\/\d+ kB \(100%\), [\d.]+ MB\/s$/m, 'stage -P: upload line (not a tty)');
like($err, qr/^staged: 45 rows \(1 malformed\), \d+ kB in [\d.]+ s$/m, 'stage -P: rows staged');
unlike($err, qr/\r/, 'stage -P: no carriage return when stderr is not a terminal');

($rc, $out, $err) = run_client($node, [ 'stage', '-', '-t', 'customers' ],
	stdin => fixture('header_only.csv'), file => 1);
is($rc, 0, 'stage - (standard input): exit 0');
chomp(my $b_stdin = $out);
is(sql("SELECT state, rows_total, source_name FROM ir_batches WHERE batch_id = $b_stdin"),
	'staged|0|stdin', 'stage -: a header-only file is staged with 0 rows, named "stdin"');

($rc, $out, $err) = run_client($node,
	[ 'stage', fixture('empty.csv'), '-t', 'customers', '--source-name', 'monday.csv' ]);
is($rc, 1, 'stage of an empty file: exit 1');
chomp(my $b_empty = $out);
like($err, qr/WARNING:  could not stage all of "monday.csv"; batch $b_empty failed/,
	'stage of an empty file: the server\'s WARNING');
like($err, qr/error: batch $b_empty failed: the file is empty/, 'stage of an empty file: why');
is(state_of($b_empty), 'failed', 'stage of an empty file: the batch is failed (the evidence kept)');
is(lo_count($node), '0', 'stage of an empty file: the client removed the upload');

my $before = batch_count($node);
command_fails_like([ @nowhere, 'stage', '/nonexistent/file.csv', '-t', 'customers' ],
	qr/error: could not open file "\/nonexistent\/file.csv" for reading: No such file or directory/,
	'stage of a missing file fails before connecting');
($rc) = run_client($node, [ 'stage', '/nonexistent/file.csv', '-t', 'customers' ]);
is($rc, 1, 'stage of a missing file: exit 1');
command_fails_like([ @ir, 'stage', $node->basedir, '-t', 'customers' ],
	qr/could not read file ".*": Is a directory/, 'stage of a directory fails');
SKIP:
{
	skip 'root reads any file', 3 if $> == 0;
	my $secret = $node->basedir . '/secret.csv';
	PostgreSQL::Test::Utils::append_to_file($secret, "id,email\n1,a\@b\n");
	chmod 0000, $secret;
	($rc, $out, $err) = run_client($node, [ 'stage', $secret, '-t', 'customers' ]);
	is($rc, 1, 'stage of a file the user cannot read: exit 1');
	like($err, qr/could not open file ".*secret.csv" for reading: Permission denied/,
		'stage of an unreadable file: why');
	is($out, '', 'stage of an unreadable file: no batch id');
}
($rc, $out, $err) = run_client($node, [ 'stage', fixture('customers.csv'), '-t', 'no_such_table' ]);
is($rc, 1, 'stage into an unknown table: exit 1');
like($err, qr/^import_rollback: ERROR:  relation "no_such_table" does not exist$/m,
	'a server error is printed as psql prints it, after the program\'s name');
is(batch_count($node), $before, 'no batch was left by the failed stagings');
is(lo_count($node), '0', 'nor a large object');

# --map, --key, --mode: the options the batch keeps
($rc, $out, $err) = run_client($node,
	[ 'stage', fixture('customers_renamed.csv'), '-t', 'customers',
	  '--map', 'Customer ID=id', '-m', 'E-mail=email', '-m', 'Full name=name',
	  '-m', 'Country=country', '-m', 'Limit=credit_limit', '-k', 'id', '--mode', 'insert',
	  '-o', '{"mapping": {"Ignored": "notes"}, "rules": {"required": ["email"]}}' ]);
is($rc, 0, 'stage --map --key --mode --options: exit 0');
chomp(my $b_map = $out);
my $opts = $json->decode(sql("SELECT options FROM ir_batches WHERE batch_id = $b_map"));
is_deeply(
	$opts,
	{ mapping => { 'Customer ID' => 'id', 'E-mail' => 'email', 'Full name' => 'name',
			'Country' => 'country', 'Limit' => 'credit_limit', 'Ignored' => 'notes' },
	  key => ['id'], mode => 'insert', rules => { required => ['email'] } },
	'the batch keeps the mapping (--options\' and --map\'s), key, mode and rules');

# options that are not JSON, or not an object: usage errors found by the server's parser
($rc, $out, $err) = run_client($node, [ 'stage', fixture('customers.csv'), '-t', 'customers', '-o', '{"rules": ' ]);
is($rc, 2, '--options that is not JSON: exit 2');
like($err, qr/--options is not valid JSON/, '--options that is not JSON: why');
($rc, $out, $err) = run_client($node, [ 'stage', fixture('customers.csv'), '-t', 'customers', '-o', '[1]' ]);
is($rc, 2, '--options that is not an object: exit 2');

# --run: the batch joins the run (ir_batches.run_id).  Deals (children of
# accounts) are staged first; the accounts file is imported into the run
# below, which applies the run, parents first.
sql(q{
	CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL);
	CREATE TABLE deals (id int PRIMARY KEY, account_id int NOT NULL REFERENCES accounts, title text);
});
my $accounts_csv = $node->basedir . '/accounts.csv';
my $deals_csv = $node->basedir . '/deals.csv';
PostgreSQL::Test::Utils::append_to_file($accounts_csv, "id,name\n1,Acme\n2,Globex\n");
PostgreSQL::Test::Utils::append_to_file($deals_csv,
	"id,account_id,title\n10,1,big deal\n11,2,small deal\n12,2,renewal\n");
my $run = sql(q{SELECT ir_run_create('CRM cutover')});
($rc, $out, $err) = run_client($node, [ 'stage', $deals_csv, '-t', 'deals', '--run', $run ]);
is($rc, 0, 'stage --run: exit 0');
like($out, qr/^\d+\n\z/, 'stage --run: the batch id alone on stdout');
chomp(my $b_deals = $out);
is(sql("SELECT run_id, state, rows_total, rows_rejected FROM ir_batches WHERE batch_id = $b_deals"),
	"$run|staged|3|0", 'stage --run: the batch joined the run (ir_batches.run_id), its 3 rows staged');
is(sql("SELECT state, batches FROM ir_runs WHERE run_id = $run"), 'open|1',
	'stage --run: the run is open, with that one batch');
is(lo_count($node), '0', 'stage --run: the large object is gone once staged');

# a run that does not exist, or takes no more batches: the server's
# refusal, exit 1, nothing left behind
$before = batch_count($node);
($rc, $out, $err) = run_client($node, [ 'stage', fixture('customers.csv'), '-t', 'customers', '--run', '999999' ]);
is($rc, 1, 'stage --run of an unknown run: exit 1');
like($err, qr/^import_rollback: ERROR:  run 999999 does not exist\nHINT:  The view ir_runs lists the runs you can see\.$/m,
	'stage --run of an unknown run: the server\'s message and hint');
is($out, '', 'stage --run of an unknown run: no batch id');
my $run_cancelled = sql(q{SELECT ir_run_create('abandoned')});
sql("SELECT ir_run_cancel($run_cancelled, 'wrong files')");
($rc, $out, $err) = run_client($node, [ 'stage', fixture('customers.csv'), '-t', 'customers', '--run', $run_cancelled ]);
is($rc, 1, 'stage --run of a cancelled run: exit 1');
like($err, qr/^import_rollback: ERROR:  run $run_cancelled is cancelled and takes no more batches\nHINT:  Create a new run with ir_run_create\(\)\.$/m,
	'stage --run of a cancelled run: the server\'s message and hint');
is(batch_count($node), $before, 'stage --run refused: no batch left behind');
is(lo_count($node), '0', 'stage --run refused: nor a large object');

# ---------------------------------------------------------------------------
# validate, rejects, sample, preview

($rc, $out, $err) = run_client($node, [ 'validate', $b1 ]);
is($rc, 0, 'validate: exit 0');
like($out, qr/^ +state +\| rows_total \| rows_valid \| rows_rejected \| stop_reason *\n-+\+/,
	'validate: a table like psql\'s');
like($out, qr/validated \|\s+45 \|\s+43 \|\s+2 \|/, 'validate: 43 valid, 2 rejected');

command_like([ @ir, 'rejects', $b1 ], qr/row has 3 fields, expected 5.*credit_limit: invalid input syntax for type numeric: "N\/A"/s,
	'rejects: every reason');
command_like([ @ir, 'rejects', $b1 ], qr/^ +\| +\| email: user65\@example.com *\+$/m,
	'rejects: the raw row one line per column');
command_like([ @ir, 'rejects', $b1, '--summary' ],
	qr/rows \| first_row \| +reason.*1 \|\s+45 \| credit_limit: invalid input syntax for type numeric: "\.\.\.".*1 \|\s+21 \| row has 3 fields, expected 5/s,
	'rejects --summary: reasons grouped, values left out');
($rc, $out) = run_client($node, [ 'rejects', $b1, '--json' ]);
my $doc = decodes($out, 'rejects --json');
is(scalar(@$doc), 2, 'rejects --json: both rejects');
is($doc->[1]{source}{credit_limit}, 'N/A', 'rejects --json: the raw source row');
is(ref $doc->[1]{errors}, 'ARRAY', 'rejects --json: errors an array');

($rc, $out, $err) = run_client($node, [ 'sample', $b1, '-n', '4' ]);
is($rc, 0, 'sample: exit 0');
like($out, qr/^ row \| +action +\| +column +\| chg \| +incoming +\| +live *$/m, 'sample: a narrow table');
like($out, qr/^ +\| +\| email +\| +\| user\d+\@example.com +\|/m, 'sample: one line per column');
like($out, qr/\(4 rows\)/, 'sample -n 4: four rows');
($rc, $out) = run_client($node, [ 'sample', $b1, '--json' ]);
$doc = decodes($out, 'sample --json');
is(scalar(@$doc), 10, 'sample --json: ten rows by default');
ok(exists $doc->[0]{mapped} && exists $doc->[0]{current}, 'sample --json: ir_sample\'s columns');

command_like([ @ir, 'preview', $b1 ], qr/column_name +\| rows_changed \| example_old \| example_new.*credit_limit \|\s+5 \|.*\(insert\) +\|\s+33 \|.*\(unchanged\) +\|\s+5 \|/s,
	'preview: the changes per column, the inserts, the unchanged');
($rc, $out) = run_client($node, [ 'preview', $b1, '--json' ]);
decodes($out, 'preview --json');

# a validation that stops the batch: exit 3, then corrected
($rc, $out) = run_client($node, [ 'stage', fixture('customers_bad.csv'), '-t', 'customers' ]);
chomp(my $b_bad = $out);
($rc, $out, $err) = run_client($node, [ 'validate', $b_bad ]);
is($rc, 3, 'validate of a file with too many rejects: exit 3');
like($err, qr/validation stopped batch $b_bad: rejected rows 5 of 10/, 'validate: the stop reason');
like($out, qr/failed \|\s+10 \|\s+5 \|\s+5 \| rejected rows/, 'validate: the row says failed');
is(state_of($b_bad), 'failed', 'the stopped batch is failed');
($rc, $out, $err) = run_client($node, [ 'validate', $b_bad, '-o', '{"rules": {"max_reject_ratio": 0.6}}' ]);
is($rc, 0, 'validate again with corrected rules: exit 0');
is(state_of($b_bad), 'validated', 'the corrected batch is validated');
($rc, $out) = run_client($node, [ 'validate', $b_bad, '--json', '-o', '{"rules": {"max_reject_ratio": 0.01}}' ]);
is($rc, 3, 'validate --json of a stopped batch: exit 3');
$doc = decodes($out, 'validate --json');
is($doc->{state}, 'failed', 'validate --json: the state');

# apply of a staged batch validates it first, and keeps a stop (exit 3)
($rc, $out) = run_client($node, [ 'stage', fixture('customers_bad.csv'), '-t', 'customers' ]);
chomp(my $b_bad2 = $out);
($rc, $out, $err) = run_client($node, [ 'apply', $b_bad2 ]);
is($rc, 3, 'apply of a staged batch whose validation stops: exit 3');
is(state_of($b_bad2), 'failed', 'and the batch is failed, nothing applied');
is(sql('SELECT count(*) FROM customers'), '30', 'the target is untouched');

# ---------------------------------------------------------------------------
# apply, changes, rollback (conflicts: exit 4), drill, plan

($rc, $out, $err) = run_client($node, [ 'apply', $b1 ]);
is($rc, 0, 'apply: exit 0');
like($out, qr/batch_id \| inserted \| updated \| unchanged \| rejected.*$b1 \|\s+33 \|\s+5 \|\s+5 \|\s+2/s,
	'apply: the counts');
is(sql('SELECT count(*), sum(credit_limit) FROM customers'), '63|62260.00', 'apply: the rows are in');
($rc, $out, $err) = run_client($node, [ 'apply', $b1 ]);
is($rc, 1, 'apply twice: exit 1');
like($err, qr/^import_rollback: ERROR:  batch $b1 has already been applied\nHINT:  /m,
	'apply twice: the server\'s message and hint, as psql prints them');

command_like([ @ir, 'changes', $b1, '--record-key', '{"id": 1}' ],
	qr/change \| row \| action \| +record +\| +column +\| +old +\| +new.*update \| \{"id": "?1"?\} +\| credit_limit \| 100.00 +\| 150.00.*\(1 row\)/s,
	'changes --record-key: that record\'s write, old beside new');
($rc, $out) = run_client($node, [ 'changes', $b1, '--json', '-n', '5' ]);
$doc = decodes($out, 'changes --json');
is(scalar(@$doc), 5, 'changes --json -n 5: five writes');

# a later outside write: the rollback conflicts and changes nothing
sql("UPDATE customers SET name = 'Hand edited' WHERE id = 40");
command_like([ @ir, 'rollback', $b1, '--preview', '--status', 'conflict' ],
	qr/\{"id": "?40"?\} +\| insert +\| conflict \| name +\| O'Brien, Seán \| Hand edited/,
	'rollback --preview --status conflict: the conflicting field');
($rc, $out, $err) = run_client($node, [ 'rollback', $b1 ]);
is($rc, 4, 'rollback with conflicts (on_conflict abort): exit 4');
like($err, qr/^import_rollback: ERROR:  .*\nDETAIL:  .*\nHINT:  /m, 'rollback conflicts: ERROR, DETAIL, HINT');
is(state_of($b1), 'applied', 'rollback with conflicts: the batch stays applied');
# a cascade (here the batch alone: nothing later wrote its fields) keeps
# on_conflict abort: exit 4, nothing changed
($rc, $out, $err) = run_client($node, [ 'rollback', $b1, '--cascade' ]);
is($rc, 4, 'rollback --cascade with conflicts (on_conflict abort): exit 4');
like($err, qr/^import_rollback: ERROR:  cannot roll back batch $b1: 1 record changed since it was applied\nDETAIL:  Key \(40\) has changed name \(outside any batch\)\.\nHINT:  /m,
	'rollback --cascade conflicts: the server\'s ERROR, DETAIL, HINT');
is($out, '', 'rollback --cascade conflicts: no rows on stdout');
is(state_of($b1), 'applied', 'rollback --cascade with conflicts: the batch stays applied');
($rc, $out, $err) = run_client($node, [ 'rollback', $b1, '--on-conflict', 'skip', '--json' ]);
is($rc, 0, 'rollback --on-conflict skip: exit 0');
$doc = decodes($out, 'rollback --json');
is($doc->{conflicts}, 1, 'rollback --json: one conflicting record');
like($err, qr/batch $b1: 1 record kept later changes \(conflicts\)/, 'rollback skip: the conflicts are reported');
is(state_of($b1), 'rolled_back', 'the batch is rolled back');
is(sql('SELECT count(*) FROM customers'), '31', 'what it created is gone but the edited record');

# exit 4 again, on a clean conflict, through a batch applied by import
($rc, $out, $err) = run_client($node, [ 'import', fixture('customers.csv'), '-t', 'customers', '--yes' ]);
is($rc, 0, 'import --yes: exit 0');
like($out, qr/^Batch (\d+): "customers.csv" staged into public.customers: 45 rows, 1 malformed$/m,
	'import: what was staged');
my ($b2) = $out =~ /^Batch (\d+):/m;
like($out, qr/^Validated: 45 rows, 43 valid, 2 rejected$/m, 'import: the validation counts');
like($out, qr/^Rejected rows by reason.*\n +rows \| first_row \| +reason/m, 'import: the rejects by reason');
like($out, qr/^Sample, spread over the file.*\n row \| +action +\| +column/m, 'import: the sample, a narrow table');
like($out, qr/^Changes by column:\n +column_name +\| rows_changed/m, 'import: the column preview');
like($out, qr/^Applying would insert 32, update 6 and leave 5 records unchanged in public.customers.$/m,
	'import: what applying would do');
like($out, qr/^Applied:\n +batch_id \| inserted \| updated \| unchanged \| rejected *\n-.*\n +$b2 \|\s+32 \|\s+6 \|\s+5 \|\s+2$/m,
	'import: the apply\'s counts');
is(state_of($b2), 'applied', 'import: the batch is applied');

($rc, $out, $err) = run_client($node, [ 'drill', $b2 ]);
is($rc, 1, 'drill of an applied batch: exit 1 (the server refuses)');

# plan: what a cascade from b2 would roll back; nothing later wrote its
# fields yet, so the batch alone (more steps below, under "cascade")
($rc, $out, $err) = run_client($node, [ 'plan', $b2 ]);
is($rc, 0, 'plan: exit 0');
like($out, qr/^ step \| batch_id \| +source_name +\| +applied_at +\| records *\n-+\+/,
	'plan: ir_rollback_plan\'s columns, a table like psql\'s');
like($out, qr/^ +1 \| +$b2 \| customers\.csv +\| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.\d]*[+-]\d\d +\| +38\n\(1 row\)\n\z/m,
	'plan: one step, the batch itself with the 38 records it wrote');
is(state_of($b2), 'applied', 'plan: changes nothing');
($rc, $out, $err) = run_client($node, [ 'plan', $b1 ]);
is($rc, 1, 'plan of a rolled-back batch: exit 1');
like($err, qr/^import_rollback: ERROR:  batch $b1 has already been rolled back$/m, 'plan of a rolled-back batch: why');
($rc, $out, $err) = run_client($node, [ 'plan', $b_map ]);
is($rc, 1, 'plan of a batch never applied: exit 1');
like($err, qr/^import_rollback: ERROR:  batch $b_map is staged, not applied: there is nothing to roll back$/m,
	'plan of a batch never applied: why');
($rc, $out, $err) = run_client($node, [ 'plan', '999999' ]);
is($rc, 1, 'plan of an unknown batch: exit 1');
like($err, qr/^import_rollback: ERROR:  batch 999999 does not exist$/m, 'plan of an unknown batch: why');

# import of a file whose validation stops: exit 3, nothing applied
my $count = sql('SELECT count(*) FROM customers');
($rc, $out, $err) = run_client($node, [ 'import', fixture('customers_bad.csv'), '-t', 'customers', '--yes' ]);
is($rc, 3, 'import of a file whose validation stops: exit 3');
like($out, qr/^Stopped: nothing was applied/m, 'import: says it stopped');
is(sql('SELECT count(*) FROM customers'), $count, 'import that stopped: the target is untouched');

# import --json: one document
($rc, $out, $err) = run_client($node,
	[ 'import', fixture('customers_renamed.csv'), '-t', 'customers', '--yes', '--json',
	  '-m', 'Customer ID=id', '-m', 'E-mail=email', '-m', 'Full name=name', '-m', 'Country=country',
	  '-m', 'Limit=credit_limit' ]);
is($rc, 0, 'import --json: exit 0');
$doc = decodes($out, 'import --json');
is_deeply([ sort keys %$doc ], [qw(applied batch_id preview rejects_by_reason sample staged validation)],
	'import --json: staged, validation, rejects, sample, preview, applied');
is($doc->{applied}{inserted}, 6, 'import --json: the apply\'s counts');
my $b3 = $doc->{batch_id};

# drill of a validated batch: apply, roll back, verify, undo
($rc, $out) = run_client($node, [ 'stage', fixture('customers_renamed.csv'), '-t', 'customers',
	'-m', 'Customer ID=id', '-m', 'E-mail=email', '-m', 'Full name=name', '-m', 'Country=country',
	'-m', 'Limit=credit_limit', '-o', '{"rules": {"max_reject_ratio": 1}}' ]);
chomp(my $b4 = $out);
run_client($node, [ 'validate', $b4 ]);
($rc, $out, $err) = run_client($node, [ 'drill', $b4 ]);
is($rc, 0, 'drill: exit 0');
like($out, qr/round_trip_exact.*\| t$/s, 'drill: the round trip is exact');
is(state_of($b4), 'validated', 'drill: the batch stays validated');

# ---------------------------------------------------------------------------
# cascade: plan and rollback --cascade, newest first
#
# b2 wrote the credit limit of record 1 (an update) and every field of
# record 50 (an insert).  Then c1 writes record 50's credit limit (a field
# of b2's), c2 the name of record 1 (not b2's: b2 left it as it was), c3
# record 50's credit limit again.  b2's cascade: c3, c1, then b2.

my %c;
for my $f ([ 'c1', "id,credit_limit\n50,5000.00\n" ], [ 'c2', "id,name\n1,Renamed\n" ],
	[ 'c3', "id,credit_limit\n50,5001.00\n" ])
{
	my ($name, $csv) = @$f;
	my $file = $node->basedir . "/$name.csv";
	PostgreSQL::Test::Utils::append_to_file($file, $csv);
	($rc, $out) = run_client($node, [ 'stage', $file, '-t', 'customers' ]);
	chomp($c{$name} = $out);
	($rc) = run_client($node, [ 'apply', $c{$name} ]);
	is($rc, 0, "cascade: $name.csv applied");
}
my $n_customers = sql('SELECT count(*) FROM customers');

($rc, $out, $err) = run_client($node, [ 'plan', $b2 ]);
is($rc, 0, 'plan of a cascade: exit 0');
my @steps = map { [ /^ +(\d+) \| +(\d+) \| (\S+) +\| [^|]+ \| +(\d+)$/ ] } grep { /^ +\d+ \|/ } split /\n/, $out;
is_deeply(\@steps,
	[ [ 1, $c{c3}, 'c3.csv', 1 ], [ 2, $c{c1}, 'c1.csv', 1 ], [ 3, $b2, 'customers.csv', 38 ] ],
	'plan: the later batches that wrote b2\'s fields, newest first, then b2 (not c2: fields, not records)');
like($out, qr/\(3 rows\)\n\z/, 'plan: three steps');
($rc, $out) = run_client($node, [ 'plan', $b2, '--json' ]);
is($rc, 0, 'plan --json: exit 0');
$doc = decodes($out, 'plan --json');
is_deeply([ map { [ $_->{step}, $_->{batch_id}, $_->{source_name}, $_->{records} ] } elements($doc) ],
	[ [ 1, $c{c3}, 'c3.csv', 1 ], [ 2, $c{c1}, 'c1.csv', 1 ], [ 3, $b2, 'customers.csv', 38 ] ],
	'plan --json: ir_rollback_plan\'s rows');
my @p = elements($doc);
ok(@p == 3 && $p[0]{applied_at} gt $p[1]{applied_at} && $p[1]{applied_at} gt $p[2]{applied_at},
	'plan --json: newest first, by applied_at');
is(sql("SELECT string_agg(state, ',' ORDER BY batch_id) FROM ir_batches WHERE batch_id IN ($b2, $c{c1}, $c{c2}, $c{c3})"),
	'applied,applied,applied,applied', 'plan: nothing rolled back');

# an outside write to a field of b2's: the cascade (abort) changes nothing
sql(q{UPDATE customers SET email = 'by-hand@example.com' WHERE id = 50});
($rc, $out, $err) = run_client($node, [ 'rollback', $b2, '--cascade' ]);
is($rc, 4, 'rollback --cascade, an outside write (abort): exit 4');
like($err, qr/^import_rollback: ERROR:  cannot roll back batch $b2: 1 record changed since it was applied\nDETAIL:  Key \(50\) has changed email \(outside any batch\)\.\nHINT:  /m,
	'rollback --cascade, an outside write: the server\'s ERROR, DETAIL, HINT');
is(sql("SELECT string_agg(state, ',' ORDER BY batch_id) FROM ir_batches WHERE batch_id IN ($b2, $c{c1}, $c{c3})"),
	'applied,applied,applied', 'rollback --cascade (abort): every batch of the cascade stays applied');
is(sql('SELECT credit_limit FROM customers WHERE id = 50'), '5001.00',
	'rollback --cascade (abort): not even the newest batch was rolled back (one transaction)');

# force: the whole cascade, newest first, over the outside write
($rc, $out, $err) = run_client($node, [ 'rollback', $b2, '--cascade', '--on-conflict', 'force' ]);
is($rc, 0, 'rollback --cascade --on-conflict force: exit 0');
like($out, qr/^ batch_id \| deleted \| restored \| conflicts *\n-+/, 'rollback --cascade: ir_rollback\'s columns');
my @rolled = map { [ /(\d+)/g ] } grep { /^ +\d+ \|/ } split /\n/, $out;
is_deeply(\@rolled, [ [ $c{c3}, 0, 1, 0 ], [ $c{c1}, 0, 1, 0 ], [ $b2, 32, 6, 1 ] ],
	'rollback --cascade: a row per batch, newest first: c3, c1, then b2 (its 32 inserts and 6 updates)');
like($err, qr/^import_rollback: batch $b2: 1 record had later changes, restored over them \(on_conflict force\)$/m,
	'rollback --cascade force: the conflict said to be restored over');
unlike($err, qr/kept later changes/, 'rollback force: no conflict said to be kept');
is(sql("SELECT string_agg(state, ',' ORDER BY batch_id) FROM ir_batches WHERE batch_id IN ($b2, $c{c1}, $c{c2}, $c{c3})"),
	'rolled_back,rolled_back,applied,rolled_back', 'rollback --cascade: b2, c1 and c3 rolled back; c2 stays applied');
is(sql('SELECT count(*) FROM customers WHERE id = 50'), '0', 'rollback --cascade: the record b2 created is gone');
is(sql('SELECT name, credit_limit FROM customers WHERE id = 1'), 'Renamed|100.00',
	'rollback --cascade: b2\'s field restored, c2\'s write kept');
is(sql('SELECT count(*) FROM customers'), $n_customers - 32, 'rollback --cascade: b2\'s 32 inserts are gone');
is(state_of($b3), 'applied', 'rollback --cascade: a later batch that wrote other records stays applied');

# --json: an array, also for a cascade of the batch alone
($rc, $out, $err) = run_client($node, [ 'rollback', $c{c2}, '--cascade', '--json' ]);
is($rc, 0, 'rollback --cascade --json: exit 0');
$doc = decodes($out, 'rollback --cascade --json');
is(ref $doc, 'ARRAY', 'rollback --cascade --json: an array');
is_deeply([ map { [ $_->{batch_id}, $_->{deleted}, $_->{restored}, $_->{conflicts} ] } elements($doc) ],
	[ [ $c{c2}, 0, 1, 0 ] ], 'rollback --cascade --json: one element, c2 alone');
is(sql('SELECT name FROM customers WHERE id = 1'), 'Customer 1', 'rollback --cascade --json: c2 rolled back');

# ---------------------------------------------------------------------------
# runs: a member is applied and rolled back only with its run; import
# --run applies the run (ir_run_apply), parents first

($rc, $out, $err) = run_client($node, [ 'apply', $b_deals ]);
is($rc, 1, 'apply of a member of a run: exit 1');
like($err, qr/^import_rollback: ERROR:  batch $b_deals is a member of run $run and is applied only with it\nHINT:  Use ir_run_apply\($run\)\.$/m,
	'apply of a member of a run: the server\'s message and hint');
is(state_of($b_deals), 'staged', 'apply of a member: not validated alone (it would fail without its run\'s accounts)');

($rc, $out, $err) = run_client($node, [ 'import', $accounts_csv, '-t', 'accounts', '--run', $run, '--yes' ]);
is($rc, 0, 'import --run: exit 0');
my ($b_accounts) = $out =~ /^Batch (\d+): "accounts.csv" staged into public.accounts: 2 rows, 0 malformed$/m;
ok(defined $b_accounts, 'import --run: what was staged');
like($out, qr/^Batch $b_accounts is a member of run $run \("CRM cutover", 2 batches\): it is applied with its run/m,
	'import --run: says the whole run is applied');
like($out, qr/^Applied run $run:\n +batch_id \| +target +\| inserted \| updated \| unchanged \| rejected *\n-[-+]+\n +$b_accounts \| public\.accounts \|\s+2 \|\s+0 \|\s+0 \|\s+0\n +$b_deals \| public\.deals +\|\s+3 \|\s+0 \|\s+0 \|\s+0\n/m,
	'import --run: ir_run_apply\'s rows, parents (accounts) first though staged last');
like($out, qr/^Run $run applied\./m, 'import --run: says it is done');
is(sql("SELECT state FROM ir_runs WHERE run_id = $run"), 'applied', 'import --run: the run is applied');
is(sql("SELECT string_agg(state, ',') FROM ir_batches WHERE run_id = $run"), 'applied,applied',
	'import --run: both members applied');
is(sql('SELECT (SELECT count(*) FROM accounts) || \'/\' || (SELECT count(*) FROM deals)'), '2/3',
	'import --run: the accounts and the deals are in');

($rc, $out, $err) = run_client($node, [ 'stage', $deals_csv, '-t', 'deals', '--run', $run ]);
is($rc, 1, 'stage --run into an applied run: exit 1');
like($err, qr/^import_rollback: ERROR:  run $run is applied and takes no more batches$/m,
	'stage --run into an applied run: why');
($rc, $out, $err) = run_client($node, [ 'rollback', $b_deals ]);
is($rc, 1, 'rollback of a member of a run: exit 1');
like($err, qr/^import_rollback: ERROR:  batch $b_deals is a member of run $run and is rolled back only with it\nHINT:  Use ir_run_rollback\($run\)\.$/m,
	'rollback of a member of a run: the server\'s message and hint');

# the cascade of a member is its whole run, in reverse
($rc, $out, $err) = run_client($node, [ 'plan', $b_accounts ]);
is($rc, 0, 'plan of a member of a run: exit 0');
like($err, qr/^import_rollback: NOTICE:  batch $b_accounts is a member of run $run \("CRM cutover"\): the whole run is rolled back$/m,
	'plan of a member: the server\'s NOTICE');
@steps = map { [ /^ +(\d+) \| +(\d+) \| (\S+)/ ] } grep { /^ +\d+ \|/ } split /\n/, $out;
is_deeply(\@steps, [ [ 1, $b_deals, 'deals.csv' ], [ 2, $b_accounts, 'accounts.csv' ] ],
	'plan of a member: the run, children first');
($rc, $out, $err) = run_client($node, [ 'rollback', $b_accounts, '--cascade', '--json' ]);
is($rc, 0, 'rollback --cascade of a member: exit 0');
$doc = decodes($out, 'rollback --cascade --json of a run');
is_deeply([ map { [ $_->{batch_id}, $_->{deleted} ] } elements($doc) ], [ [ $b_deals, 3 ], [ $b_accounts, 2 ] ],
	'rollback --cascade of a member: the deals, then the accounts');
is(sql("SELECT state FROM ir_runs WHERE run_id = $run"), 'rolled_back', 'rollback --cascade of a member: the run is rolled back');
is(sql('SELECT (SELECT count(*) FROM accounts) || \'/\' || (SELECT count(*) FROM deals)'), '0/0',
	'rollback --cascade of a member: the run\'s rows are gone');

# ---------------------------------------------------------------------------
# exit 5: a guard tripped.  With on_guard "fail" (the default) ir_apply
# returns zero counts with a WARNING and leaves the batch failed, its
# last_error naming the guard; with "error" it raises IR003 and leaves the
# batch validated.  Everything the batch wrote is undone either way.

sql(q{CREATE TABLE guarded (id int PRIMARY KEY, email text)});
my $gfile = $node->basedir . '/guarded.csv';
PostgreSQL::Test::Utils::append_to_file($gfile, "id,email\n1,a\@example.com\n2,\n3,c\@example.com\n");
my $no_blank_email = '{"guards": {"blank": {"email": 0}}}';
($rc, $out) = run_client($node, [ 'stage', $gfile, '-t', 'guarded', '-o', $no_blank_email ]);
chomp(my $g1 = $out);
($rc, $out, $err) = run_client($node, [ 'apply', $g1 ]);
is($rc, 5, 'apply of a batch whose guard trips: exit 5');
like($out, qr/^ batch_id \| inserted \| updated \| unchanged \| rejected *\n-[-+]+\n +$g1 \|\s+0 \|\s+0 \|\s+0 \|\s+0\n\(1 row\)\n\z/,
	'a guard tripped: ir_apply\'s zero counts');
like($err, qr/^import_rollback: WARNING:  batch $g1 failed: guard "blank" on "email": 33.3% of written records, limit 0%\nDETAIL:  Everything it wrote was undone\.\n/m,
	'a guard tripped: the server\'s WARNING');
like($err, qr/^import_rollback: error: batch $g1 was not applied: guard "blank" on "email": 33.3% of written records, limit 0%$/m,
	'a guard tripped: the client says it was not applied, and why');
is(sql("SELECT state FROM ir_batches WHERE batch_id = $g1"), 'failed', 'a guard tripped: the batch is failed');
like(sql("SELECT last_error FROM ir_batches WHERE batch_id = $g1"), qr/^guard "blank"/,
	'a guard tripped: last_error names the guard');
is(sql('SELECT count(*) FROM guarded'), '0', 'a guard tripped: nothing it wrote is left');

# again, validated anew (the guard kept with the batch), with --json
($rc) = run_client($node, [ 'validate', $g1 ]);
is($rc, 0, 'a failed batch validated again: exit 0');
($rc, $out, $err) = run_client($node, [ 'apply', $g1, '--json' ]);
is($rc, 5, 'apply --json, a guard tripped: exit 5');
$doc = decodes($out, 'apply --json, a guard tripped');
is_deeply([ fields($doc, qw(batch_id inserted updated unchanged)) ], [ $g1, 0, 0, 0 ], 'apply --json: the zero counts');
is(state_of($g1), 'failed', 'apply --json, a guard tripped: the batch is failed');

# on_guard "error": IR003, exit 5, the batch left as it was (validated)
run_client($node, [ 'validate', $g1 ]);
($rc, $out, $err) = run_client($node, [ 'apply', $g1, '-o', '{"on_guard": "error"}' ]);
is($rc, 5, 'apply -o on_guard error, a guard tripped (IR003): exit 5');
like($err, qr/^import_rollback: ERROR:  guard "blank" on "email": 33.3% of written records, limit 0%\nDETAIL:  Batch $g1 was not applied: everything it wrote was undone\.\nHINT:  /m,
	'on_guard error: the server\'s ERROR, DETAIL, HINT');
is($out, '', 'on_guard error: no counts on stdout');
is(state_of($g1), 'validated', 'on_guard error: the batch stays validated');
is(sql('SELECT count(*) FROM guarded'), '0', 'on_guard error: nothing written');
($rc, $out, $err) = run_client($node, [ 'apply', $g1, '-v', '-o', '{"on_guard": "error"}' ]);
like($err, qr/^import_rollback: ERROR:  IR003: guard "blank"/m, 'on_guard error: SQLSTATE IR003 (-v)');

# a guard given at apply, with a limit that holds: applied, exit 0
($rc, $out, $err) = run_client($node, [ 'apply', $g1, '-o', '{"guards": {"blank": {"email": 0.5}}}' ]);
is($rc, 0, 'apply with a guard that holds: exit 0');
like($out, qr/^ +$g1 \|\s+3 \|\s+0 \|\s+0 \|\s+0$/m, 'a guard that holds: the counts');
is(state_of($g1), 'applied', 'a guard that holds: the batch is applied');

# a check that fails is a broken guard, not a verdict: exit 1
my $g2file = $node->basedir . '/guarded2.csv';
PostgreSQL::Test::Utils::append_to_file($g2file, "id,email\n4,d\@example.com\n");
($rc, $out) = run_client($node, [ 'stage', $g2file, '-t', 'guarded',
	'-o', '{"guards": {"check": [{"name": "broken", "sql": "SELECT 1 / 0 = 1"}]}}' ]);
chomp(my $g2 = $out);
($rc, $out, $err) = run_client($node, [ 'apply', $g2 ]);
is($rc, 1, 'a guard check that errors: exit 1, not 5');
like($err, qr/^import_rollback: ERROR:  division by zero$/m, 'a guard check that errors: the server\'s error');
is(state_of($g2), 'validated', 'a guard check that errors: the batch is not applied');

# import --yes: exit 5, the counts not shown as applied
my $g3file = $node->basedir . '/guarded3.csv';
PostgreSQL::Test::Utils::append_to_file($g3file, "id,email\n5,\n6,f\@example.com\n");
($rc, $out, $err) = run_client($node, [ 'import', $g3file, '-t', 'guarded', '--yes', '-o', $no_blank_email ]);
is($rc, 5, 'import --yes, a guard tripped: exit 5');
my ($g3) = $out =~ /^Batch (\d+):/m;
$g3 //= 0;
like($out, qr/^Not applied:\n +batch_id \| inserted \| updated \| unchanged \| rejected *\n-[-+]+\n +$g3 \|\s+0 \|\s+0 \|\s+0 \|\s+0\n/m,
	'import, a guard tripped: the zero counts under "Not applied:"');
unlike($out, qr/^Applied:|applied\.  Undo it/m, 'import, a guard tripped: nothing said to be applied');
like($out, qr/^Stopped by a guard: everything batch $g3 wrote was undone and the batch is failed\.$/m,
	'import, a guard tripped: says what stopped it');
like($err, qr/WARNING:  batch $g3 failed: guard "blank" on "email": 50% of written records, limit 0%/,
	'import, a guard tripped: the server\'s WARNING');
is(state_of($g3), 'failed', 'import, a guard tripped: the batch is failed');
is(sql('SELECT count(*) FROM guarded'), '3', 'import, a guard tripped: nothing of it written');
($rc, $out, $err) = run_client($node, [ 'import', $g3file, '-t', 'guarded', '--yes', '--json', '-o', $no_blank_email ]);
is($rc, 5, 'import --yes --json, a guard tripped: exit 5');
$doc = decodes($out, 'import --json, a guard tripped');
is_deeply([ fields($doc->{applied}, qw(inserted updated unchanged)) ], [ 0, 0, 0 ], 'import --json: the zero counts');
is(state_of($doc->{batch_id} // 0), 'failed', 'import --json, a guard tripped: the batch is failed');

# a run whose own check trips: import --run exits 5, the run and every
# member failed, nothing written
my $check_deals = '{"guards": {"check": [{"name": "at most two deals", "sql": "SELECT count(*) <= 2 FROM public.deals"}]}}';
for my $json (0, 1)
{
	my $what = $json ? 'import --run --json' : 'import --run';
	my $r = sql("SELECT ir_run_create('guarded cutover', '$check_deals')");
	($rc, $out) = run_client($node, [ 'stage', $deals_csv, '-t', 'deals', '--run', $r ]);
	chomp(my $d = $out);
	($rc, $out, $err) = run_client($node,
		[ 'import', $accounts_csv, '-t', 'accounts', '--run', $r, '--yes', ($json ? '--json' : ()) ]);
	is($rc, 5, "$what, the run's guard tripped: exit 5");
	my $acc;
	if ($json)
	{
		$doc = decodes($out, "$what, a guard tripped");
		$acc = $doc->{batch_id} // 0;
		is_deeply([ map { [ $_->{batch_id}, $_->{inserted} ] } elements($doc->{applied}) ], [ [ $acc, 0 ], [ $d, 0 ] ],
			"$what: applied, a zero row per member");
	}
	else
	{
		($acc) = $out =~ /^Batch (\d+):/m;
		like($out, qr/^Not applied:\n.*\n-[-+]+\n +$acc \| public\.accounts \|\s+0 \|\s+0 \|\s+0 \|\s+0\n +$d \| public\.deals +\|\s+0 \|\s+0 \|\s+0 \|\s+0\n/m,
			"$what: the zero rows under \"Not applied:\"");
		like($out, qr/^Stopped by a guard: everything run $r wrote was undone/m, "$what: says what stopped it");
		unlike($out, qr/^Applied run|^Run $r applied/m, "$what: nothing said to be applied");
	}
	like($err, qr/^import_rollback: WARNING:  run $r failed: guard check "at most two deals" returned false$/m,
		"$what: the server's WARNING");
	like($err, qr/^import_rollback: error: run $r was not applied: guard check "at most two deals" returned false$/m,
		"$what: the client says the run was not applied");
	is(sql("SELECT state, last_error FROM ir_runs WHERE run_id = $r"),
		'failed|guard check "at most two deals" returned false', "$what: the run is failed by the guard");
	is(sql("SELECT string_agg(state, ',') FROM ir_batches WHERE run_id = $r"), 'failed,failed',
		"$what: every member is failed");
	is(sql('SELECT (SELECT count(*) FROM accounts) || \'/\' || (SELECT count(*) FROM deals)'), '0/0',
		"$what: nothing written");
}

# ---------------------------------------------------------------------------
# status, history (table, JSON, HTML), cancel, purge

($rc, $out, $err) = run_client($node, [ 'status', $b1 ]);
is($rc, 0, 'status: exit 0');
like($out, qr/^state +\| rolled_back$/m, 'status: the batch as "column | value" lines');
like($out, qr/^Events:\n.*applied +\| rolled_back/ms, 'status: its state changes');
($rc, $out) = run_client($node, [ 'status', $b1, '--json' ]);
$doc = decodes($out, 'status --json');
is($doc->{state}, 'rolled_back', 'status --json: the state');
is(scalar(@{ $doc->{events} }), 5, 'status --json: its events');
($rc, $out, $err) = run_client($node, [ 'status', '999999' ]);
is($rc, 1, 'status of an unknown batch: exit 1');
like($err, qr/batch 999999 does not exist or is not visible to you/, 'status of an unknown batch: why');

($rc, $out) = run_client($node, [ 'stage', fixture('customers.csv'), '-t', 'customers',
	'--source-name', 'partner <weekly> & "co".csv' ]);
chomp(my $b_cancel = $out);
command_like([ @ir, 'cancel', $b_cancel, '--reason', 'sent twice' ], qr/^batch $b_cancel cancelled$/,
	'cancel: done');
is(state_of($b_cancel), 'cancelled', 'cancel: the batch is cancelled');

($rc, $out) = run_client($node, ['history']);
is($rc, 0, 'history: exit 0');
like($out, qr/^ batch \| +file +\| +target +\| +state +\| +by +\| +started +\| rows \| rejected \| inserted \| updated \| unchanged \| retry $/m,
	'history: the staff columns');
like($out, qr/^ +$b1 \| customers.csv +\| public.customers \| rolled_back \|/m, 'history: a batch per line');
($rc, $out) = run_client($node, [ 'history', '--target', 'guarded' ]);
my $n_guarded = sql(q{SELECT count(*) FROM ir_batches WHERE target = 'public.guarded'});
like($out, qr/\($n_guarded rows\)/, 'history --target: that table\'s batches only (all of them)');
is(scalar(() = $out =~ /^ +\d+ \| .* \| public\.guarded +\|/mg), $n_guarded, 'history --target: a line per batch of that table');
($rc, $out) = run_client($node, [ 'history', '--json' ]);
$doc = decodes($out, 'history --json');
is(scalar(@$doc), batch_count($node), 'history --json: every batch');
ok(exists $doc->[0]{safe_to_retry} && exists $doc->[0]{last_error}, 'history --json: ir_batches\' columns');

my $html = $node->basedir . '/history.html';
($rc, $out, $err) = run_client($node, [ 'history', '--html', $html ]);
is($rc, 0, 'history --html: exit 0');
like($err, qr/wrote ".*history.html": \d+ batches/, 'history --html: says what it wrote');
my $page = slurp_file($html);
like($page, qr/^<!DOCTYPE html>/, 'history --html: an HTML page');
unlike($page, qr/<script|<link|src=|url\(|https?:/i, 'history --html: self-contained (no script, no external resource)');
like($page, qr/partner &lt;weekly&gt; &amp; &quot;co&quot;\.csv/, 'history --html: values escaped');
like($page, qr/<span class="st cancelled">cancelled<\/span><span class="why">sent twice<\/span>/,
	'history --html: a cancelled batch with its reason');
for my $h ('Batch', 'File', 'Started by', 'Started at', 'Rows', 'Errors', 'State', 'Safe to retry')
{
	like($page, qr/<th[^>]*>$h<\/th>/, "history --html: column \"$h\"");
}

($rc, $out) = run_client($node, [ 'purge', '--older-than', '0 seconds', '--dry-run' ]);
is($rc, 0, 'purge --dry-run: exit 0');
like($out, qr/batch_id \| +state +\| freed_bytes/, 'purge --dry-run: what would go');
is(sql("SELECT purged_at IS NULL FROM ir_batches WHERE batch_id = $b_cancel"), 't', 'purge --dry-run: nothing purged');
($rc, $out) = run_client($node, [ 'purge', '--older-than', '0 seconds', '--json' ]);
decodes($out, 'purge --json');
is(sql("SELECT purged_at IS NOT NULL FROM ir_batches WHERE batch_id = $b_cancel"), 't', 'purge: the cancelled batch purged');

# ---------------------------------------------------------------------------
# connecting: conninfo (above), URI, -h/-p, PG* variables, service file

my ($host, $port) = ($node->host, $node->port);
(my $uri_host = $host) =~ s{/}{%2F}g;
command_ok([ 'import_rollback', '-d', "postgresql://$uri_host:$port/postgres", 'history' ],
	'connect by URI');
command_ok([ 'import_rollback', '-h', $host, '-p', $port, '-U', scalar(getpwuid($>)), '-d', 'postgres', 'history' ],
	'connect by -h -p -U -d');
{
	local $ENV{PGHOST} = $host;
	local $ENV{PGPORT} = $port;
	local $ENV{PGDATABASE} = 'postgres';
	command_ok([ 'import_rollback', 'history' ], 'connect by PG* variables');
}
my $services = $node->basedir . '/pg_service.conf';
PostgreSQL::Test::Utils::append_to_file($services, "[irtest]\nhost=$host\nport=$port\ndbname=postgres\n");
{
	local $ENV{PGSERVICEFILE} = $services;
	command_ok([ 'import_rollback', '-d', 'service=irtest', 'history' ], 'connect by a service file (-d service=)');
	local $ENV{PGSERVICE} = 'irtest';
	command_ok([ 'import_rollback', 'history' ], 'connect by a service file (PGSERVICE)');
}
$node->safe_psql('postgres', 'CREATE DATABASE other');
command_fails_like([ 'import_rollback', '-d', $node->connstr('other'), 'history' ],
	qr/error: extension "import_rollback" is not installed in database "other"/,
	'a database without the extension: said so');
command_fails_like([ @nowhere, 'history' ], qr/^import_rollback: error: connection to server .* failed/,
	'no server: libpq\'s message');

$node->stop;
done_testing();
