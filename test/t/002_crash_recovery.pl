# 002_crash_recovery.pl: a crash loses no committed call and leaves no
# partial one (guarantee 6).
#
# How:
#
#   1. A cluster with fsync = on and small shared_buffers (dirty pages are
#      evicted mid-transaction) holds one app with twelve sessions: "hot-1",
#      appended to by all ten writers, "hot-2" by the five even ones (both of
#      user "team"), and one private session per writer (user "u<w>").
#   2. Ten writers (t/crash_writer.py, a thread and a connection each)
#      append in a loop, one append_messages per transaction: batches of 1 to
#      20 messages (some large enough to be TOASTed), deltas with session,
#      user: and app: keys (and temp: ones, stored nowhere), idempotency keys
#      on half of the calls, expected_version on their private session.
#      Before each call a writer logs, outside the database, what it sends
#      (session, the exact text of every message, delta, key); after COMMIT
#      returns it logs the result (first_seq, last_seq, version, update_time).
#      Every message carries (round, writer, call, index), so each stored
#      message can be traced to the call that sent it.
#   3. A CHECKPOINT runs while they write; after two seconds (a thousand or
#      more calls acknowledged, at least five per writer) the server is
#      killed:
#        round 1: the postmaster and every server process, all frozen with
#                 SIGSTOP and then SIGKILLed (what a power cut leaves, minus
#                 the OS cache);
#        round 2: one writer's backend, SIGKILL (the postmaster kills every
#                 other backend and reinitializes: restart_after_crash);
#        round 3: the postmaster alone, SIGKILL (orphaned backends finish
#                 what they were doing, then exit).
#   4. The server is started again (crash recovery replays the WAL; the log
#      must say so), and everything ever sent, over all rounds so far, is
#      checked against what is stored:
#        - the API and a scan of the tables without any index agree; amcheck
#          finds every btree index consistent with its heap, and the heaps
#          and their TOAST sound;
#        - each session's messages have seq 1..last_seq, no gap, no
#          duplicate, and cut into whole calls: each call's messages, exactly
#          as sent (byte for byte), all of them, in order, once, in the session
#          it was sent to; no message from a call that was never made;
#        - every acknowledged call is stored, with its recorded seq range and
#          version; a stored call that was not acknowledged is the one its
#          writer had in flight when the server died;
#        - each head has last_seq = highest seq and version = number of stored
#          calls (each call's version is its rank);
#        - session, user and app state are exactly what the deltas of the
#          stored calls make (each writer's key holds the value of its latest
#          stored call that set it); so every key of an acknowledged call is
#          there, and no temp: key;
#        - the idempotency keys stored are exactly those of the stored calls,
#          with their results; every acknowledged key replays its recorded
#          result (replayed = true, even with a wrong expected_version) and
#          the replays write nothing;
#        - the next append to every session gets last_seq + 1, version + 1.
#   5. A final clean restart checks everything once more, including the
#      appends made by the checks themselves.
#
# The checks fail, as they should, when after the first recovery one
# message is deleted, or the last message of a call is cut off (with the
# head's last_seq lowered to match), or a message or a state value is
# changed, or an idempotency key is deleted; and on a server running with
# synchronous_commit = off, whose acknowledged calls a crash can lose.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(time usleep);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $WRITER_PY = dirname(abs_path(__FILE__)) . '/crash_writer.py';
my $PYTHON    = $ENV{PYTHON} // '/usr/bin/python3';
my $NWRITERS  = 10;
my $APP       = 'crash-app';
my $tmp       = $PostgreSQL::Test::Utils::tmp_check;
my $json      = JSON::PP->new->canonical;

# A SQL string literal (standard_conforming_strings is on).
sub ql
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# ok() when @problems is empty; otherwise fail and show the first ones.
sub no_problems
{
	my ($name, @problems) = @_;
	my $ok = ok(!@problems, $name);
	if (!$ok)
	{
		diag(scalar(@problems) . " problem(s):");
		diag("  $_") for @problems[ 0 .. ($#problems < 19 ? $#problems : 19) ];
	}
	return $ok;
}

# Run $sql in database crash; its output or, when it fails, its error, so
# that a failing check fails its test instead of ending the script.
my $node;
sub query
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('crash', $sql);
	return $ret == 0 ? $out : "psql exited with $ret: $err";
}

$node = PostgreSQL::Test::Cluster->new('crash');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf(
	'postgresql.conf', q{
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 1MB
restart_after_crash = on
log_statement = none
max_connections = 40
});
$node->start;
my $connstr = $node->connstr('crash');

$node->safe_psql('postgres', 'CREATE DATABASE crash');
$node->safe_psql('crash',
	'CREATE EXTENSION session_store; CREATE EXTENSION amcheck');
# A replay that fails (a key lost, so the wrong expected_version is checked)
# must fail alone, not the whole statement of replays.
$node->safe_psql(
	'crash', qq{
CREATE FUNCTION public.replay(u text, s text, k text) RETURNS text
LANGUAGE plpgsql AS \$\$
DECLARE
	r record;
BEGIN
	SELECT * INTO r FROM session_store.append_messages('$APP', u, s,
		'[{"c": 0, "replay": true}]', expected_version => -1, idempotency_key => k);
	RETURN concat_ws('|', r.first_seq, r.last_seq, r.version,
		extract(epoch FROM r.update_time), r.replayed);
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END \$\$});
is($node->safe_psql('crash', 'SHOW fsync'), 'on', 'fsync is on');

# ---------------------------------------------------------------------------
# Sessions and what they hold at creation.
# ---------------------------------------------------------------------------

# name "app/user/session" => { user, sid, state (session keys) }
my %sessions;
my %user_init;    # "app/user" => { key => value }
my %app_init = ($APP => { started => JSON::PP::true });

sub create_session
{
	my ($user, $sid, $state) = @_;
	$node->safe_psql('crash',
		    "SELECT session_store.create_session("
		  . join(', ', ql($APP), ql($user), ql($json->encode($state)), ql($sid))
		  . ')');
	my %own;
	for my $k (keys %$state)
	{
		if    ($k =~ /^app:(.*)/s)  { }
		elsif ($k =~ /^user:(.*)/s) { $user_init{"$APP/$user"}{$1} = $state->{$k} }
		else                        { $own{$k} = $state->{$k} }
	}
	$sessions{"$APP/$user/$sid"} = { user => $user, sid => $sid, state => \%own };
}

create_session('team', 'hot-1',
	{ origin => 'hot-1', 'user:team' => JSON::PP::true, 'app:started' => JSON::PP::true });
create_session('team', 'hot-2', { origin => 'hot-2' });
create_session("u$_", 'own', { origin => "own-$_" }) for 1 .. $NWRITERS;
$user_init{"$APP/u$_"} //= {} for 1 .. $NWRITERS;

# The sessions a writer appends to; its private one first.
sub writer_sessions
{
	my ($w) = @_;
	return ("$APP/u$w/own", "$APP/team/hot-1", $w % 2 == 0 ? ("$APP/team/hot-2") : ());
}

# ---------------------------------------------------------------------------
# Every call ever made: id "round.writer.call" => {
#   session, n, msgs => [ exact texts ], delta => [ [key, value] ... ],
#   key (idempotency), ack => { first, last, version, epoch, t } or undef,
#   inflight => 1 if its writer died waiting for it }
# The checks' own appends are calls of writer 0.
# ---------------------------------------------------------------------------
my %calls;

# Read one writer's log; returns { pid, acks_before => n, end => [...] }.
sub read_writer_log
{
	my ($round, $w, $log, $kill_time) = @_;
	my %info = (acks => 0, acks_before => 0, acks_after => 0);
	my $cur;
	open my $fh, '<', $log or die "cannot open $log: $!";
	while (my $line = <$fh>)
	{
		chomp $line;
		my @f = split /\t/, $line, 4;
		if ($f[0] eq 'S')
		{
			$info{pid} = $f[1];
		}
		elsif ($f[0] eq 'I')
		{
			my @g = split /\t/, $line;
			$cur = "$round.$w.$g[1]";
			$calls{$cur} = {
				session => $g[2],
				n       => $g[3],
				delta   => [ $g[4] eq '-' ? () : map { [ split /=/, $_, 2 ] } split /,/, $g[4] ],
				key     => $g[5] eq '-' ? undef : $g[5],
				msgs    => [],
			};
		}
		elsif ($f[0] eq 'M')
		{
			die "$log: message of call $f[1] out of order"
			  unless $cur eq "$round.$w.$f[1]"
			  && $f[2] == @{ $calls{$cur}{msgs} };
			push @{ $calls{$cur}{msgs} }, $f[3];
		}
		elsif ($f[0] eq 'A')
		{
			my @g = split /\t/, $line;
			my $id = "$round.$w.$g[1]";
			die "$log: ack of call $g[1] without its intent" unless $calls{$id};
			$calls{$id}{ack} = {
				first   => $g[2],
				last    => $g[3],
				version => $g[4],
				epoch   => $g[5],
				t       => $g[6]
			};
			$info{acks}++;
			$g[6] < $kill_time ? $info{acks_before}++ : $info{acks_after}++;
		}
		elsif ($f[0] eq 'E')
		{
			$info{end} = [ @f[ 1 .. 3 ] ];
			my $id = "$round.$w.$f[1]";
			$calls{$id}{inflight} = 1 if $calls{$id} && !$calls{$id}{ack};
		}
	}
	close $fh;
	return \%info;
}

# ---------------------------------------------------------------------------
# Killing and restarting the server.
# ---------------------------------------------------------------------------

sub postmaster_pid
{
	open my $fh, '<', $node->data_dir . '/postmaster.pid' or die $!;
	my $pid = <$fh>;
	chomp $pid;
	return $pid;
}

# Pids of the running children of $ppid.
sub children_of
{
	my ($ppid) = @_;
	my @kids;
	opendir my $dh, '/proc' or die $!;
	for my $p (grep { /^\d+$/ } readdir $dh)
	{
		open my $fh, '<', "/proc/$p/stat" or next;
		my $stat = <$fh>;
		next unless defined $stat && $stat =~ /\)\s+(\S)\s+(\d+)/;
		push @kids, $p if $2 == $ppid;
	}
	return @kids;
}

# Wait until every process in @pids is gone, reaped included: a zombie
# postmaster still "exists" for the next one's lock file check.
sub wait_gone
{
	my @pids  = @_;
	my $until = time + $PostgreSQL::Test::Utils::timeout_default;
	while (my @left = grep { -e "/proc/$_" } @pids)
	{
		die "server processes still there: @left" if time > $until;
		usleep(20_000);
	}
}

# kill the server as $how says, while the writers of the round run
sub kill_server
{
	my ($how, $writer_pid) = @_;
	if ($how eq 'server')
	{
		# Freeze them all first (a stopped postmaster forks no one, a stopped
		# child cannot see the postmaster die), then kill them all: no server
		# process runs one more instruction.
		my $pm = postmaster_pid();
		kill 'STOP', $pm;
		my @kids = children_of($pm);
		kill 'STOP', @kids;
		$node->kill9;
		kill 'KILL', @kids;
		wait_gone($pm, @kids);
	}
	elsif ($how eq 'postmaster')
	{
		my $pm   = postmaster_pid();
		my @kids = children_of($pm);
		$node->kill9;
		wait_gone($pm, @kids);
	}
	elsif ($how eq 'backend')
	{
		kill 'KILL', $writer_pid or die "cannot kill backend $writer_pid: $!";
	}
}

# ---------------------------------------------------------------------------
# One round: writers, a checkpoint, the kill, recovery.
# ---------------------------------------------------------------------------

sub run_round
{
	my ($round, $how) = @_;
	my (@logs, @tails);
	my $t_round = time;
	my @specs;
	for my $w (1 .. $NWRITERS)
	{
		push @logs, "$tmp/crash_r${round}_w$w.log";
		push @specs, join(':', $w, 1000 * $round + $w,
			join(',', writer_sessions($w)), $logs[-1]);
	}
	my $h = IPC::Run::start(
		[ $PYTHON, $WRITER_PY, $connstr, $round, 60, @specs ],
		'<', \undef, '>', "$tmp/crash_r$round.out", '2>', "$tmp/crash_r$round.err");

	# Count acknowledged calls as they come.
	my %acks;
	my $count = sub {
		for my $i (0 .. $#logs)
		{
			my $t = $tails[$i] //= { buf => '' };
			unless ($t->{fh})
			{
				open my $fh, '<', $logs[$i] or next;
				$t->{fh} = $fh;
			}
			while (my $l = readline $t->{fh})
			{
				$l = $t->{buf} . $l;
				if ($l !~ /\n\z/) { $t->{buf} = $l; last }
				$t->{buf} = '';
				$acks{$i}++ if $l =~ /^A\t/;
				$t->{started} = 1 if $l =~ /^S\t/;
			}
			seek $t->{fh}, 0, 1;
		}
	};
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	my $started  = sub { @tails == @logs && !grep { !$_->{started} } @tails };
	until ($started->())
	{
		$count->();
		if (time > $deadline)
		{
			diag(PostgreSQL::Test::Utils::slurp_file("$tmp/crash_r$round.err"));
			BAIL_OUT('the writers did not connect');
		}
		usleep(20_000);
	}
	my $t0 = time;
	note(sprintf('round %d: writers connected in %.1f s', $round, $t0 - $t_round));
	usleep(700_000);
	$node->safe_psql('crash', 'CHECKPOINT');
	# Write for at least 2 s in all, until every writer has 5 calls acknowledged.
	do { usleep(50_000); $count->() }
	  until (time - $t0 >= 2 && !grep { ($acks{$_} // 0) < 5 } 0 .. $#logs)
	  || time > $deadline;

	my $log_offset = -s $node->logfile;
	my $writer1_pid;
	if ($how eq 'backend')
	{
		open my $fh, '<', $logs[0] or die $!;
		($writer1_pid) = <$fh> =~ /^S\t(\d+)/;
	}
	my $kill_time = time;
	kill_server($how, $writer1_pid);
	my $t_killed = time;
	$h->finish;
	my $t_writers = time;

	if ($how eq 'backend')
	{
		$node->wait_for_log(qr/all server processes terminated; reinitializing/,
			$log_offset);
		$node->wait_for_log(qr/database system is ready to accept connections/,
			$log_offset);
	}
	else
	{
		$node->start;
	}
	note(sprintf('round %d: wrote for %.1f s; the kill took %.1f s, the writers '
		  . 'ended %.1f s later, the server was back %.1f s later',
		$round, $kill_time - $t0, $t_killed - $kill_time, $t_writers - $t_killed,
		time - $t_writers));
	ok($node->log_contains(qr/redo starts at/, $log_offset)
		  && $node->log_contains(qr/redo done at/, $log_offset),
		"round $round: crash recovery replayed the WAL");

	# What the writers saw.
	my @w_problems;
	my ($acked, $after, $inflight) = (0, 0, 0);
	for my $w (1 .. $NWRITERS)
	{
		my $info = read_writer_log($round, $w, $logs[ $w - 1 ], $kill_time);
		my $end = $info->{end} // [ '?', 'none', 'no end record' ];
		push @w_problems, "writer $w: no call acknowledged before the kill"
		  unless $info->{acks_before};
		push @w_problems, "writer $w stopped on $end->[1]: $end->[2]"
		  unless $end->[1] =~ /^(-|57P0[123]|08...)$/;
		$acked += $info->{acks};
		$after += $info->{acks_after};
		$inflight++ if $calls{"$round.$w.$end->[0]"} && !$calls{"$round.$w.$end->[0]"}{ack};
	}
	my $err = PostgreSQL::Test::Utils::slurp_file("$tmp/crash_r$round.err");
	push @w_problems, "writers' stderr: $err" if $err ne '';
	no_problems(
		"round $round ($how killed): all $NWRITERS writers had calls acknowledged "
		  . 'and stopped only because the server went away', @w_problems);
	note("round $round: $acked calls acknowledged ($after of them logged after the "
		  . "kill began), $inflight in flight");
	return;
}

# ---------------------------------------------------------------------------
# The checks, over every call made so far.
# ---------------------------------------------------------------------------

my $pass = 0;

sub verify
{
	my ($label) = @_;
	$pass++;
	my $slist = "session_store.list_sessions('$APP', NULL, 10000) l";
	my $sname = "l.user_id || '/' || l.session_id";

	# The messages through the API, and the tables read without an index.
	my $api = $node->safe_psql(
		'crash', qq{
SELECT ('$APP/' || $sname) COLLATE "C", m.seq, m.message::text
FROM $slist CROSS JOIN LATERAL
     session_store.get_messages('$APP', l.user_id, l.session_id) m
ORDER BY 1, 2});
	my $scan = $node->safe_psql(
		'crash', q{
SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
SELECT (s.app_name || '/' || s.user_id || '/' || s.session_id) COLLATE "C", m.seq, m.message::text
FROM session_store.messages m JOIN session_store.sessions s USING (user_id, sid)
ORDER BY 1, 2});
	ok($api eq $scan,
		"$label: get_messages returns what a scan of the tables without indexes finds"
	) or diag("api: " . length($api) . " bytes; scan: " . length($scan) . " bytes");

	my $amcheck = query(q{
SELECT c.relname || ': ' || bt_index_parent_check(c.oid, heapallindexed => true, rootdescend => true)::text
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relnamespace = 'session_store'::regnamespace ORDER BY 1;
SELECT c.relname || ' block ' || v.blkno || ': ' || v.msg
FROM pg_class c, LATERAL verify_heapam(c.oid, check_toast => true) v
WHERE c.relnamespace = 'session_store'::regnamespace AND c.relkind = 'r'});
	my $nindexes = () = $amcheck =~ /^\w+: $/mg;
	no_problems("$label: amcheck: all $nindexes"
		  . " btree indexes match their heaps, the heaps and TOAST are sound",
		grep { !/^\w+: $/ } split /\n/, $amcheck);

	# Cut each session into calls.
	my %rows;
	for (split /\n/, $api)
	{
		my ($s, $seq, $text) = split /\|/, $_, 3;
		push @{ $rows{$s} }, [ $seq, $text ];
	}
	my (%present, %head_expected, @contig, @whole, @origin);
	for my $s (sort keys %sessions)
	{
		my $rows = $rows{$s} // [];
		for my $k (0 .. $#$rows)
		{
			next if $rows->[$k][0] == $k + 1;
			push @contig, "$s: seq $rows->[$k][0] at position " . ($k + 1)
			  . " (prev " . ($k ? $rows->[ $k - 1 ][0] : 'none') . ')';
			last;
		}
		my ($k, $rank) = (0, 0);
		while ($k < @$rows)
		{
			my ($seq, $text) = @{ $rows->[$k] };
			my ($c, $i, $r, $w) =
			  $text =~ /^\{"c": (\d+), "i": (\d+), "r": (\d+), "w": (\d+),/;
			my $id   = defined $w ? "$r.$w.$c" : '?';
			my $call = $calls{$id};
			if (!$call)
			{
				push @origin, "$s seq $seq: from call $id, never made: "
				  . substr($text, 0, 60);
				$k++;
				next;
			}
			my $j = 0;
			while ($k < @$rows && $j < $call->{n}
				&& $rows->[$k][1] eq $call->{msgs}[$j])
			{
				$k++;
				$j++;
			}
			if ($j == 0)
			{
				push @whole, "$s seq $seq: message $i of call $id, "
				  . "not where its call starts or not as sent";
				$k++;
				next;
			}
			$rank++;
			push @whole, "$s: call $id has $j of its $call->{n} messages, from seq $seq"
			  if $j < $call->{n};
			push @whole, "$s: call $id is stored twice" if $present{$id};
			push @whole, "$s: call $id was sent to $call->{session}"
			  if $call->{session} ne $s;
			$present{$id} = {
				session => $s,
				first   => $seq,
				last    => $rows->[ $k - 1 ][0],
				version => $rank
			};
		}
		$head_expected{$s} = (@$rows ? $rows->[-1][0] : 0) . "|$rank";
	}
	no_problems("$label: every session's seq runs 1..n without gap or duplicate", @contig);
	no_problems(
		"$label: stored messages are whole calls, byte for byte as sent, each once",
		@whole);
	for my $id (sort keys %present)
	{
		push @origin, "call $id is stored but was neither acknowledged nor in flight"
		  unless $calls{$id}{ack} || $calls{$id}{inflight};
	}
	no_problems(
		"$label: every stored call was acknowledged or in flight at a kill",
		@origin);

	my @missing;
	my $nacked = 0;
	for my $id (sort keys %calls)
	{
		my $ack = $calls{$id}{ack} or next;
		$nacked++;
		my $p = $present{$id};
		my $want = "$calls{$id}{session} $ack->{first}..$ack->{last} v$ack->{version}";
		if (!$p) { push @missing, "call $id ($want) is missing"; next }
		my $got = "$p->{session} $p->{first}..$p->{last} v$p->{version}";
		push @missing, "call $id: acknowledged $want, stored $got" if $got ne $want;
	}
	no_problems("$label: all $nacked acknowledged calls are stored with their "
		  . 'recorded seq range and version', @missing);
	note("$label: " . scalar(keys %present) . " calls stored, "
		  . scalar(grep { !$calls{$_}{ack} } keys %present)
		  . " of them committed without the writer seeing the COMMIT");

	# Heads and state.
	my %heads = map { my ($s, @v) = split /\|/, $_, 4; ($s => \@v) } split /\n/,
	  $node->safe_psql(
		'crash', qq{
SELECT '$APP/' || $sname, g.last_seq, g.version, g.state::text
FROM $slist CROSS JOIN LATERAL
     session_store.get_session('$APP', l.user_id, l.session_id) g});
	is_deeply([ sort keys %heads ], [ sort keys %sessions ],
		"$label: the same " . scalar(keys %sessions) . ' sessions exist');
	no_problems(
		"$label: each head has last_seq = highest seq, version = number of stored calls",
		map { "$_: head $heads{$_}[0]|$heads{$_}[1], messages say $head_expected{$_}" }
		  grep { !$heads{$_} || "$heads{$_}[0]|$heads{$_}[1]" ne $head_expected{$_} }
		  sort keys %sessions);

	my %sstate = map { ($_ => { %{ $sessions{$_}{state} } }) } keys %sessions;
	my %ustate = map { ($_ => { %{ $user_init{$_} } }) } keys %user_init;
	my %astate = map { ($_ => { %{ $app_init{$_} } }) } keys %app_init;
	for my $id (keys %present)
	{
		my $s = $calls{$id}{session};
		my ($app, $user) = split m{/}, $s;
		for my $kv (@{ $calls{$id}{delta} })
		{
			my ($k, $v) = @$kv;
			my $slot =
			    $k =~ s/^app://   ? \$astate{$app}{$k}
			  : $k =~ s/^user://  ? \$ustate{"$app/$user"}{$k}
			  : $k =~ /^temp:/    ? next
			  :                     \$sstate{$s}{$k};
			$$slot = $v if !defined $$slot || $$slot < $v;
		}
	}
	my (@state, @acked_keys);
	for my $s (sort keys %sessions)
	{
		my ($app, $user) = split m{/}, $s;
		my %merged = (
			%{ $sstate{$s} },
			(map { ("user:$_" => $ustate{"$app/$user"}{$_}) } keys %{ $ustate{"$app/$user"} }),
			(map { ("app:$_"  => $astate{$app}{$_}) } keys %{ $astate{$app} }));
		my $want = $json->encode(\%merged);
		my $got  = $heads{$s} ? $json->encode(decode_json($heads{$s}[2])) : 'none';
		push @state, "$s: state $got, expected $want" if $got ne $want;
	}
	my %user_got = map { my ($u, $st) = split /\|/, $_, 2; ("$APP/$u" => $st) } split /\n/,
	  $node->safe_psql('crash',
		join(' UNION ALL ',
			map { my $u = (split m{/})[1]; "SELECT " . ql($u) . " || '|' || session_store.get_user_state('$APP', " . ql($u) . ')::text' }
			  sort keys %ustate));
	for my $u (sort keys %ustate)
	{
		my $want = $json->encode($ustate{$u});
		my $got  = $json->encode(decode_json($user_got{$u}));
		push @state, "user $u: state $got, expected $want" if $got ne $want;
	}
	my $app_got = $json->encode(decode_json(
		$node->safe_psql('crash', "SELECT session_store.get_app_state('$APP')")));
	push @state, "app $APP: state $app_got, expected " . $json->encode($astate{$APP})
	  if $app_got ne $json->encode($astate{$APP});
	no_problems("$label: session, user and app state are exactly what the stored "
		  . "calls' deltas make", @state);

	# The keys of acknowledged calls, one by one, in the merged view.
	for my $id (sort keys %calls)
	{
		next unless $calls{$id}{ack};
		my $s = $calls{$id}{session};
		my $st = $heads{$s} ? decode_json($heads{$s}[2]) : {};
		for my $kv (@{ $calls{$id}{delta} })
		{
			my ($k, $v) = @$kv;
			next if $k =~ /^temp:/;
			push @acked_keys, "call $id: $s has $k = " . ($st->{$k} // 'nothing')
			  . ", not $v or a later value" unless defined $st->{$k} && $st->{$k} >= $v;
		}
		push @acked_keys, "call $id: $s shows a temp: key"
		  if grep { /^temp:/ } keys %$st;
	}
	no_problems("$label: every state key of an acknowledged call is there", @acked_keys);

	# Idempotency keys: the table holds exactly those of the stored calls.
	my (%want_keys, %got_keys, @keys);
	for my $id (keys %present)
	{
		my $c = $calls{$id};
		next unless defined $c->{key};
		my $p = $present{$id};
		$want_keys{"$c->{session} $c->{key}"} =
		  "$p->{first}|$p->{last}|$p->{version}" . ($c->{ack} ? "|$c->{ack}{epoch}" : '');
	}
	for (split /\n/, $node->safe_psql(
			'crash', q{
SELECT s.app_name || '/' || s.user_id || '/' || s.session_id || ' ' || k.idempotency_key,
       k.first_seq, k.last_seq, k.version, extract(epoch FROM k.update_time)::text
FROM session_store.idempotency_keys k JOIN session_store.sessions s USING (user_id, sid)}))
	{
		my ($sk, @v) = split /\|/;
		$got_keys{$sk} = \@v;
	}
	for my $sk (sort keys %want_keys)
	{
		my $g = $got_keys{$sk};
		if (!$g) { push @keys, "$sk: key missing"; next }
		my $got = join '|', @$g[ 0 .. ($want_keys{$sk} =~ tr/|//) ];
		push @keys, "$sk: stored $got, expected $want_keys{$sk}" if $got ne $want_keys{$sk};
	}
	push @keys, map { "$_: key of no stored call" } grep { !$want_keys{$_} } sort keys %got_keys;
	no_problems("$label: the " . scalar(keys %want_keys)
		  . ' stored idempotency keys are exactly those of the stored calls, with their results',
		@keys);

	# Every acknowledged key replays its recorded result and writes nothing.
	my $heads_sql = qq{SELECT '$APP/' || $sname, l.version, l.last_seq FROM $slist ORDER BY 1};
	my $heads_before = $node->safe_psql('crash', $heads_sql);
	my (@values, @expect);
	for my $id (sort keys %calls)
	{
		my $c = $calls{$id};
		next unless $c->{ack} && defined $c->{key};
		my (undef, $user, $sid) = split m{/}, $c->{session};
		push @values, '(' . join(', ', scalar(@values) + 1, ql($user), ql($sid), ql($c->{key})) . ')';
		push @expect, join '|', scalar(@expect) + 1, @{ $c->{ack} }{qw(first last version epoch)}, 't';
	}
	my $replay = query(qq{
SELECT v.ord || '|' || public.replay(v.u, v.s, v.k)
FROM (VALUES @{[ join(",\n", @values) ]}) v(ord, u, s, k) ORDER BY v.ord});
	my %got_replay = map { /^(\d+)\|/ ? ($1 => $_) : () } split /\n/, $replay;
	no_problems("$label: all " . scalar(@expect) . ' acknowledged idempotency keys replay '
		  . 'their recorded result (replayed = true, despite a wrong expected_version)',
		($replay =~ /^psql exited/ ? ($replay) : ()),
		map { "expected $_, got " . ($got_replay{ (split /\|/)[0] } // 'nothing') }
		  grep { ($got_replay{ (split /\|/)[0] } // '') ne $_ } @expect);
	is($node->safe_psql('crash', $heads_sql), $heads_before,
		"$label: the replays wrote nothing");

	# The next append continues each session.
	my (@cont_values, @cont_expect, @cont_ids);
	for my $s (sort keys %sessions)
	{
		my $n = @cont_ids + 1;
		my $msg = qq({"c": $n, "i": 0, "r": $pass, "w": 0, "role": "user", "text": "check $label"});
		my ($last_seq, $version) = split /\|/, $head_expected{$s};
		push @cont_ids, "$pass.0.$n";
		$calls{"$pass.0.$n"} = { session => $s, n => 1, msgs => [$msg], delta => [] };
		push @cont_values, '(' . join(', ', $n, ql($sessions{$s}{user}), ql($sessions{$s}{sid}), ql("[$msg]")) . ')';
		push @cont_expect, join '|', $n, $last_seq + 1, $last_seq + 1, $version + 1, 'f';
	}
	my @cont = split /\n/, query(qq{
SELECT v.ord, a.first_seq, a.last_seq, a.version, a.replayed, extract(epoch FROM a.update_time)::text
FROM (VALUES @{[ join(",\n", @cont_values) ]}) v(ord, u, s, m) CROSS JOIN LATERAL
     session_store.append_messages('$APP', v.u, v.s, v.m::jsonb) a
ORDER BY v.ord});
	my @cont_got;
	for my $k (0 .. $#cont)
	{
		my @f = split /\|/, $cont[$k];
		push @cont_got, join '|', @f[ 0 .. 4 ];
		$calls{ $cont_ids[$k] }{ack} =
		  { first => $f[1], last => $f[2], version => $f[3], epoch => $f[5] };
	}
	is_deeply(\@cont_got, \@cont_expect,
		"$label: the next append to each session gets last_seq + 1 and version + 1");
	return;
}

# ---------------------------------------------------------------------------
# The rounds.
# ---------------------------------------------------------------------------

my $t_start = time;
my @rounds  = (
	[ 1, 'server',     'round 1: after SIGKILL of every server process' ],
	[ 2, 'backend',    'round 2: after SIGKILL of one backend' ],
	[ 3, 'postmaster', 'round 3: after SIGKILL of the postmaster' ]);
for my $r (@rounds)
{
	my ($round, $how, $label) = @$r;
	run_round($round, $how);
	verify($label);
}

$node->restart;
verify('after a clean restart');
note(sprintf('%d calls made in all, %.1f s', scalar(keys %calls), time - $t_start));

$node->stop;
done_testing();
