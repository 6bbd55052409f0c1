# IrClient -- what the TAP tests of the command-line client
# (test/t/01x_client_*.pl) share: the program under test (the one built in
# this tree, client/import_rollback, ahead of an installed one), a cluster
# with the extension and a customers table of 30 records, the fixtures in
# test/fixtures/client, and a runner that gives the client an input that
# is not a terminal and returns its status, stdout and stderr.
package IrClient;

use strict;
use warnings;

use Cwd qw(getcwd);
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(client_node fixture run_client batch_count lo_count);

# prove runs in the top directory of the tree (PGXS: cd $(srcdir))
my $top = getcwd();
$ENV{PATH} = "$top/client:$ENV{PATH}" if -x "$top/client/import_rollback";

sub fixture
{
	my ($name) = @_;
	return "$top/test/fixtures/client/$name";
}

# A started cluster with the extension and customers(id, email, name,
# country, credit_limit): records 1..30.
sub client_node
{
	my ($name, %init) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%init);
	$node->start;
	$node->safe_psql('postgres', q{
		CREATE EXTENSION import_rollback;
		CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL UNIQUE,
		                        name text NOT NULL, country char(2),
		                        credit_limit numeric(10,2));
		INSERT INTO customers
		SELECT g, 'user' || g || '@example.com', 'Customer ' || g, 'US', 100 * g
		  FROM generate_series(1, 30) g;
	});
	return $node;
}

# run_client($node, [args], stdin => STRING or FILE NAME (with file => 1),
#            env => {...}): run import_rollback -d <node> args with that
# standard input (never a terminal; empty by default); returns
# (exit status, stdout, stderr).  With no node, no -d is added.
sub run_client
{
	my ($node, $args, %o) = @_;
	my @cmd = ('import_rollback', ($node ? ('-d', $node->connstr('postgres')) : ()), @$args);
	my ($out, $err) = ('', '');
	my $in = defined $o{stdin} ? $o{stdin} : '';
	local %ENV = (%ENV, %{ $o{env} || {} });
	print "# Running: " . join(' ', map { /\s/ ? "'$_'" : $_ } @cmd) . "\n";
	IPC::Run::run(\@cmd, '<', ($o{file} ? $in : \$in), '>', \$out, '2>', \$err);
	my $status = $? >> 8;
	die "import_rollback ended with signal " . ($? & 127) if $? & 127;
	return ($status, $out, $err);
}

sub batch_count
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT count(*) FROM ir_batches');
}

sub lo_count
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT count(*) FROM pg_largeobject_metadata');
}

1;
