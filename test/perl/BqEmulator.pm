# The local Pub/Sub + BigQuery emulator (emulator/) for TAP tests: started on
# free ports in the test's own directory, stopped when the test ends, and
# restartable on the same ports (with --data-dir, on the same state). By
# default it runs Pub/Sub, BigQuery and the BigQuery Storage APIs (gRPC,
# service "bigquerystorage", on BigQuery's tables).
#
#   my $emu = BqEmulator->new(dir => $tmp, services => 'bigquery',
#                             args => ['--bq-job-delay-ms', '3000']);
#   ... $emu->{bigquery} (port), $emu->{pubsub}, $emu->{bigquerystorage},
#   $emu->url('bigquery') (http://127.0.0.1:PORT; for bigquerystorage the
#   h2c endpoint the server option bigquery_storage_endpoint takes) ...
#   $emu->stop; $emu->start;    # same ports
#   http('POST', $emu->url('bigquery') . '/emulator/bigquerystorage/faults', '{...}')
#   http('POST', $emu->url('bigquery') . '/emulator/clock', '{"advance_s": 660}')
#
# Also two helpers the tests share: http(METHOD, URL[, JSON body]) returns
# the body of the answer, wait_for(WHAT, SECONDS, CODE) polls CODE until it
# is true (and says what it waited for in vain).
package BqEmulator;

use strict;
use warnings;

use Exporter 'import';
use File::Basename ();
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT_OK = qw(http wait_for capture_server pipeline_node);

my @running;
my @captures;

sub new
{
	my ($class, %opts) = @_;
	my $services = $opts{services} // 'pubsub,bigquery,bigquerystorage';
	my @args = @{ $opts{args} // [] };

	# The emulator holds an empty pull for 90 s, as Google does; the tests'
	# pipelines are expected to scale down and take up alter_pipeline()
	# within seconds of going idle, so their pulls are answered after 1 s
	# unless a test asks otherwise (011_idle_pull.pl does).
	push @args, ('--pubsub-pull-wait-ms', '1000')
	  if $services =~ /pubsub/ && !grep { $_ eq '--pubsub-pull-wait-ms' } @args;
	my $self = bless {
		dir => $opts{dir},
		services => $services,
		args => \@args,
		pubsub => 0,
		bigquery => 0,
		bigquerystorage => 0,
		pid => undef,
	}, $class;
	$self->start;
	return $self;
}

sub start
{
	my ($self) = @_;
	my $ports_file = "$self->{dir}/ports.json";
	my $log = "$self->{dir}/emulator.log";

	unlink $ports_file;
	my $pid = fork();
	if ($pid == 0)
	{
		open(STDOUT, '>>', $log);
		open(STDERR, '>&', \*STDOUT);
		exec('/usr/bin/python3', '-m', 'emulator', '--services', $self->{services},
			'--pubsub-port', $self->{pubsub}, '--bigquery-port', $self->{bigquery},
			'--bigquerystorage-port', $self->{bigquerystorage},
			'--ports-file', $ports_file, @{ $self->{args} })
		  or die "cannot start the emulator: $!";
	}
	$self->{pid} = $pid;
	push @running, $self;
	for (1 .. 200)
	{
		last if -s $ports_file;
		usleep(50_000);
	}
	BAIL_OUT('the emulator did not start: ' . slurp_file($log)) unless -s $ports_file;
	my $ports = decode_json(slurp_file($ports_file));
	$self->{$_} = $ports->{$_} // 0 for qw(pubsub bigquery bigquerystorage);
	return $self;
}

sub stop
{
	my ($self) = @_;
	return unless $self->{pid};
	kill 'TERM', $self->{pid};
	waitpid($self->{pid}, 0);
	$self->{pid} = undef;
}

# http://127.0.0.1:PORT of a service
sub url
{
	my ($self, $service) = @_;
	return "http://127.0.0.1:$self->{$service}";
}

sub http
{
	my ($method, $url, $body) = @_;
	my @cmd = ('curl', '-s', '-X', $method, $url);
	push @cmd, ('-H', 'Content-Type: application/json', '-d', $body) if defined $body;
	my ($stdout, $stderr);
	IPC::Run::run(\@cmd, '>', \$stdout, '2>', \$stderr);
	return $stdout;
}

sub wait_for
{
	my ($what, $timeout, $check) = @_;
	my $deadline = time() + $timeout;
	while (time() < $deadline)
	{
		return 1 if $check->();
		usleep(200_000);
	}
	diag("timed out waiting for $what");
	return 0;
}

# capture_server(DIR): an attacker's listener (test/perl/capture_server.py)
# on a free port; returns its port and the file where it writes every
# request it received, one JSON object a line.  Stopped when the test ends.
sub capture_server
{
	my ($dir) = @_;
	my ($port_file, $log) = ("$dir/capture.port", "$dir/capture.jsonl");
	my $pid = fork();

	if ($pid == 0)
	{
		exec('/usr/bin/python3', File::Basename::dirname(__FILE__) . '/capture_server.py',
			$port_file, $log)
		  or die "cannot start the capture server: $!";
	}
	push @captures, $pid;
	wait_for('the capture server', 10, sub { -s $port_file });
	return (slurp_file($port_file), $log);
}

# pipeline_node(NAME, PROJECT, PUBSUB_URL, BIGQUERY_URL, server => 'emu',
# conf => '...', bigquery_storage => URL): a started cluster with bqstream
# preloaded (the launcher looking every 200 ms), the extension, a server for
# those endpoints with dataset "shop" (and bigquery_storage_endpoint when
# bigquery_storage names the emulator's Storage API, e.g.
# $emu->url('bigquerystorage')), and the current user's mapping with auth 'none'.
sub pipeline_node
{
	my ($name, $project, $pubsub, $bigquery, %opts) = @_;
	my $server = $opts{server} // 'emu';
	my $storage = defined $opts{bigquery_storage}
	  ? ", bigquery_storage_endpoint '$opts{bigquery_storage}'"
	  : '';
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bqstream'
bqstream.launcher_naptime = 200
} . ($opts{conf} // ''));
	$node->start;
	$node->safe_psql('postgres', qq{
		CREATE EXTENSION bqstream;
		CREATE SERVER $server FOREIGN DATA WRAPPER bqstream_fdw
		  OPTIONS (project_id '$project', dataset 'shop',
		           pubsub_endpoint '$pubsub', bigquery_endpoint '$bigquery'$storage);
		CREATE USER MAPPING FOR CURRENT_USER SERVER $server OPTIONS (auth 'none');
	});
	return $node;
}

END
{
	kill 'TERM', $_->{pid} for grep { $_->{pid} } @running;
	kill 'KILL', @captures if @captures;
}

1;
