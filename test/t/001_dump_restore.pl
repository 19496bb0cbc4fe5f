# 001_dump_restore.pl: pg_dump / pg_restore round-trip all session_store data.
#
# The extension registers its tables and its sid sequence with
# pg_extension_config_dump, so a plain "pg_dump -Fc" of a database followed by
# "pg_restore" into an empty database must bring back every session, message,
# idempotency key, user state and app state, and the sequence that numbers
# sessions internally.  This test proves it:
#
#   1. a database "src" is populated through the API only: two apps, four
#      users, sessions with batches of messages, state deltas touching session,
#      app: and user: keys (including removals and a temp: key), idempotency
#      keys, a session whose id and messages are full of unicode and quotes,
#      pop_message and rewind_session (so last_seq is above the highest stored
#      seq), clear_session, two fork_session, an empty session and a deleted
#      one, and a session written with the 1.1 arguments (kept nulls, client
#      message times, request digests, a replace_messages and its removed
#      count);
#   2. it is dumped with pg_dump -Fc and restored with pg_restore into "dst",
#      a database created without the extension;
#   3. every table, ordered by primary key, the sid sequence, and what the API
#      returns (list_sessions, get_session, get_messages, get_app_state,
#      get_user_state) are identical in src and dst;
#   4. dst keeps working as the same store: an append after pop/rewind
#      continues after the old last_seq, an idempotency key used before the
#      dump replays (and is verified against its restored digest), and a new
#      session (NULL id) gets a sid above every
#      restored one, so its messages never mix with restored messages.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The ids and messages below are UTF-8 bytes; say so to the server.
$ENV{PGCLIENTENCODING} = 'UTF8';

# A SQL string literal (standard_conforming_strings is on).
sub ql
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->start;

# Run $sql in $db and return its output or, when it fails, its error: in the
# checks of dst, a failing call fails its test instead of ending the script.
sub query
{
	my ($db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, $sql);
	return $ret == 0 ? $out : "psql exited with $ret: $err";
}

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', 'CREATE EXTENSION session_store');

# ---------------------------------------------------------------------------
# 1. Populate src through the API.
# ---------------------------------------------------------------------------

# Quotes of every kind, a backslash, dollar quotes, a comment marker, a
# psql-variable look-alike, combining and non-BMP characters.
my $weird_id =
    q{naïve 'single' "double" \back\slash $$dollar$$ :var ; -- 会话 🚀 }
  . "e\xcc\x81";    # e + combining acute accent
my $weird_key = q{clé-'idem' "потом" \\ 🔑};
my $WID  = ql($weird_id);
my $WKEY = ql($weird_key);

# Session A: travel-agent / alice / trip-1, the first session (sid 1).
$node->safe_psql(
	'src', q{
SELECT session_store.create_session('travel-agent', 'alice',
	'{"goal": "Lisbon", "app:model": "m-large", "user:home": "Berlin", "temp:trace": 1}',
	'trip-1');
SELECT session_store.append_messages('travel-agent', 'alice', 'trip-1',
	'[{"role": "user", "content": "Find me a flight"},
	  {"role": "assistant", "content": "Which dates?"}]',
	state_delta => '{"step": "dates", "user:budget": 800}',
	idempotency_key => 'req-1');
});

# The result of this call must come back verbatim (replayed) after restore.
my $req2_result = $node->safe_psql(
	'src', q{
SELECT first_seq, last_seq, version, update_time, replayed
FROM session_store.append_messages('travel-agent', 'alice', 'trip-1',
	'[{"role": "user", "content": "May 3 to 7"},
	  {"role": "assistant", "content": "Two options", "options": [{"price": 120.5}, {"price": null}]},
	  {"role": "user", "content": "The cheap one"}]',
	state_delta => '{"app:region": "eu"}',
	idempotency_key => 'req-2');
});
like($req2_result, qr/^3\|5\|2\|[^|]+\|f$/,
	'src: idempotent append req-2 got seq 3..5 at version 2');

$node->safe_psql(
	'src', q{
-- a batch of 50
SELECT session_store.append_messages('travel-agent', 'alice', 'trip-1',
	(SELECT jsonb_agg(jsonb_build_object('role', 'tool', 'n', i) ORDER BY i)
	 FROM generate_series(1, 50) i));
-- only a delta, with an idempotency key: a key whose seq range is NULL
SELECT session_store.append_messages('travel-agent', 'alice', 'trip-1', '[]',
	state_delta => '{"step": null, "phase": "booking"}',
	idempotency_key => 'req-3');
});

# Session B: travel-agent / alice / <weird id>.
my $weird_result = $node->safe_psql(
	'src', qq{
SELECT session_store.create_session('travel-agent', 'alice',
	'{"note": "it''s \\"quoted\\" \\\\ here"}', $WID);
SELECT first_seq, last_seq, version, update_time, replayed
FROM session_store.append_messages('travel-agent', 'alice', $WID,
	'[{"role": "user", "content": "Grüße, 世界! It''s a \\"test\\" \\\\ \\u00e9 😀"},
	  {"role": "assistant", "content": "\$\$ -- ; :var ''"}]',
	idempotency_key => $WKEY);
SELECT session_store.append_messages('travel-agent', 'alice', $WID,
	'[{"role": "user", "content": "نعم", "nested": {"a": [1, 2, {"b": "ß"}]}}]');
});
# The first line is the create_session row; the second the append result.
my (undef, $weird_append) = split /\n/, $weird_result;
is( $node->safe_psql(
		'src', qq{
SELECT session_id FROM session_store.get_session('travel-agent', 'alice', $WID)}),
	$weird_id,
	'src: the unicode, quote-laden session id is stored byte for byte');
like($weird_append, qr/^1\|2\|1\|[^|]+\|f$/,
	'src: idempotent append on the unicode session got seq 1..2');

# Session C: travel-agent / bob / trip-b: ten messages, then rewind and pop.
$node->safe_psql(
	'src', q{
SELECT session_store.create_session('travel-agent', 'bob',
	'{"user:home": "Paris"}', 'trip-b');
SELECT session_store.append_messages('travel-agent', 'bob', 'trip-b',
	(SELECT jsonb_agg(jsonb_build_object('n', i) ORDER BY i)
	 FROM generate_series(1, 4) i),
	idempotency_key => 'bob-1');
SELECT session_store.append_messages('travel-agent', 'bob', 'trip-b',
	(SELECT jsonb_agg(jsonb_build_object('n', i) ORDER BY i)
	 FROM generate_series(5, 10) i),
	state_delta => '{"progress": 10}', idempotency_key => 'bob-2');
});
is( $node->safe_psql(
		'src',
		q{SELECT session_store.rewind_session('travel-agent', 'bob', 'trip-b', 6)}),
	'4',
	'src: rewind_session removed seq 7..10');
is( $node->safe_psql(
		'src',
		q{SELECT seq FROM session_store.pop_message('travel-agent', 'bob', 'trip-b')}),
	'6',
	'src: pop_message removed seq 6');
is( $node->safe_psql(
		'src', q{
SELECT s.last_seq, (SELECT max(seq) FROM session_store.get_messages('travel-agent', 'bob', 'trip-b'))
FROM session_store.get_session('travel-agent', 'bob', 'trip-b') s}),
	'10|5',
	'src: trip-b has last_seq 10 above its highest stored seq 5');

# Session D: a fork of trip-1 up to seq 3, then diverging.
# Session E: a fork of trip-b with a generated id, all messages (last_seq 10).
$node->safe_psql(
	'src', q{
SELECT session_store.fork_session('travel-agent', 'alice', 'trip-1', 'trip-1-fork', 3);
SELECT session_store.append_messages('travel-agent', 'alice', 'trip-1-fork',
	'[{"role": "user", "content": "Actually, Porto"}]',
	state_delta => '{"goal": "Porto"}');
SELECT session_store.fork_session('travel-agent', 'bob', 'trip-b');
});

# Session F: code-agent / o'brien / empty: no state, no message, ever.
# Session G: code-agent / o'brien / <generated id>: user: and app: keys set,
#            changed and removed.
# Session H: code-agent / carol / cleared: messages, then clear_session.
# Session I: code-agent / carol / doomed: created and deleted.
$node->safe_psql(
	'src', q{
SELECT session_store.create_session('code-agent', 'o''brien', NULL, 'empty');
});
my $g_id = $node->safe_psql(
	'src', q{
SELECT session_id FROM session_store.create_session('code-agent', 'o''brien',
	'{"user:lang": "perl", "app:tier": "free", "temp:x": true}');
});
like($g_id, qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
	'src: create_session with a NULL id returned a UUID');
$node->safe_psql(
	'src', qq{
SELECT session_store.append_messages('code-agent', 'o''brien', '$g_id',
	'[{"role": "user", "content": "fix the build"}, {"role": "assistant", "content": "done"}]',
	state_delta => '{"app:tier": "pro", "user:lang": null, "user:editor": "vim", "k": "v"}',
	idempotency_key => 'g-1');
SELECT session_store.append_messages('code-agent', 'carol', 'cleared',
	'[{"n": 1}, {"n": 2}, {"n": 3}]')
FROM session_store.create_session('code-agent', 'carol', '{"s": 1}', 'cleared');
SELECT session_store.clear_session('code-agent', 'carol', 'cleared');
SELECT session_store.create_session('code-agent', 'carol', NULL, 'doomed');
SELECT session_store.append_messages('code-agent', 'carol', 'doomed', '[{"n": 1}]',
	idempotency_key => 'doomed-1');
SELECT session_store.delete_session('code-agent', 'carol', 'doomed');
});

# Session J: code-agent / dave / v11, written with the 1.1 arguments.
$node->safe_psql(
	'src', q{
SELECT session_store.create_session('code-agent', 'dave', '{"pending": null}', 'v11',
	keep_nulls => true);
SELECT session_store.append_messages('code-agent', 'dave', 'v11',
	'[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "draft"}]',
	state_delta => '{"pending": null, "turn": 1}', keep_nulls => true,
	message_time => '2026-05-01 12:00:00+00', idempotency_key => 'v11-1',
	verify_replay => true);
SELECT session_store.replace_messages('code-agent', 'dave', 'v11',
	'[{"role": "assistant", "content": "draft"}]',
	'[{"role": "assistant", "content": "final"}, {"role": "user", "content": "thanks"}]',
	idempotency_key => 'v11-2');
});

# What src must hold, so that the comparisons below compare something.
is( $node->safe_psql(
		'src', q{
SELECT (SELECT count(*) FROM session_store.sessions),
       (SELECT count(*) FROM session_store.messages),
       (SELECT count(*) FROM session_store.idempotency_keys),
       (SELECT count(*) FROM session_store.user_states),
       (SELECT count(*) FROM session_store.app_states)}),
	# sessions A..H, J; messages 55+3+5+4+5+0+2+0+3; keys req-1..3, weird,
	# bob-1..2, g-1, v11-1..2; users alice, bob, o'brien; apps travel-agent,
	# code-agent
	'9|77|9|3|2',
	'src: sessions, messages, idempotency keys, user and app states populated'
);

# ---------------------------------------------------------------------------
# 2. Dump src, restore into dst (created without the extension).
# ---------------------------------------------------------------------------

my $dump = "$PostgreSQL::Test::Utils::tmp_check/src.dump";
$node->command_ok(
	[
		'pg_dump', '-Fc', '-h', $node->host, '-p', $node->port,
		'-f', $dump, 'src'
	],
	'pg_dump -Fc src');

$node->safe_psql('postgres', 'CREATE DATABASE dst');
is( $node->safe_psql(
		'dst',
		q{SELECT count(*) FROM pg_extension WHERE extname = 'session_store'}),
	'0',
	'dst: created without the extension');

$node->command_ok(
	[
		'pg_restore', '--exit-on-error', '-h', $node->host, '-p', $node->port,
		'-d', 'dst', $dump
	],
	'pg_restore -d dst');

# ---------------------------------------------------------------------------
# 3. src and dst hold the same data and the API shows the same view.
# ---------------------------------------------------------------------------

# name => [ query, expected number of rows in src ]
my @same = (
	[
		'table sessions',
		q{SELECT t::text FROM session_store.sessions t
		  ORDER BY app_name, user_id, session_id}, 9
	],
	[
		'table messages',
		q{SELECT t::text FROM session_store.messages t
		  ORDER BY user_id, sid, seq}, 77
	],
	[
		'table idempotency_keys',
		q{SELECT t::text FROM session_store.idempotency_keys t
		  ORDER BY user_id, sid, idempotency_key}, 9
	],
	[
		'table user_states',
		q{SELECT t::text FROM session_store.user_states t
		  ORDER BY app_name, user_id}, 3
	],
	[
		'table app_states',
		q{SELECT t::text FROM session_store.app_states t ORDER BY app_name},
		2
	],
	[
		'sid sequence state',
		q{SELECT last_value, is_called FROM session_store.session_sid_seq}, 1
	],
	[
		'extension version and config-dump registrations',
		q{SELECT extversion, (SELECT string_agg(c::regclass::text, ',' ORDER BY 1)
		                      FROM unnest(extconfig) c),
		         array_length(extcondition, 1)
		  FROM pg_extension WHERE extname = 'session_store'}, 1
	],
	[
		'list_sessions of each app',
		q{SELECT a.app, l.*
		  FROM (VALUES ('code-agent'), ('travel-agent')) a(app),
		       LATERAL session_store.list_sessions(a.app) WITH ORDINALITY l
		  ORDER BY a.app, l.ordinality}, 9
	],
	[
		'list_sessions of each user',
		q{SELECT u.app, u.usr, l.*
		  FROM (VALUES ('code-agent', 'carol'), ('code-agent', 'o''brien'),
		               ('travel-agent', 'alice'), ('travel-agent', 'bob')) u(app, usr),
		       LATERAL session_store.list_sessions(u.app, u.usr) WITH ORDINALITY l
		  ORDER BY u.app, u.usr, l.ordinality}, 8
	],
	[
		'get_session of every listed session',
		q{SELECT g::text
		  FROM (VALUES ('code-agent'), ('travel-agent')) a(app),
		       LATERAL session_store.list_sessions(a.app) l,
		       LATERAL session_store.get_session(a.app, l.user_id, l.session_id) g
		  ORDER BY 1}, 9
	],
	[
		'get_messages of every listed session',
		q{SELECT a.app, l.user_id, l.session_id, m.*
		  FROM (VALUES ('code-agent'), ('travel-agent')) a(app),
		       LATERAL session_store.list_sessions(a.app) l,
		       LATERAL session_store.get_messages(a.app, l.user_id, l.session_id) m
		  ORDER BY 1, 2, 3, m.seq}, 77
	],
	[
		'get_messages windows (max_count, after_seq, before_seq)',
		qq{SELECT 'last2', m.* FROM session_store.get_messages('travel-agent', 'alice', 'trip-1', max_count => 2) m
		   UNION ALL
		   SELECT 'window', m.* FROM session_store.get_messages('travel-agent', 'alice', 'trip-1', after_seq => 2, before_seq => 6) m
		   UNION ALL
		   SELECT 'weird', m.* FROM session_store.get_messages('travel-agent', 'alice', $WID, max_count => 1) m
		   UNION ALL
		   SELECT 'trip-b', m.* FROM session_store.get_messages('travel-agent', 'bob', 'trip-b', after_seq => 3) m},
		2 + 3 + 1 + 2
	],
	[
		'get_messages after a time (1.1), the kept null and the replacement',
		q{SELECT m.* FROM session_store.get_messages('code-agent', 'dave', 'v11',
		                                             after_time => '2026-05-01 12:00:00+00') m
		  UNION ALL
		  SELECT 0, s.state, s.update_time FROM session_store.get_session('code-agent', 'dave', 'v11') s},
		3 + 1
	],
	[
		'get_app_state and get_user_state',
		q{SELECT 'app', a.app, NULL, session_store.get_app_state(a.app)
		  FROM (VALUES ('code-agent'), ('travel-agent'), ('no-such-app')) a(app)
		  UNION ALL
		  SELECT 'user', u.app, u.usr, session_store.get_user_state(u.app, u.usr)
		  FROM (VALUES ('code-agent', 'carol'), ('code-agent', 'o''brien'),
		               ('travel-agent', 'alice'), ('travel-agent', 'bob')) u(app, usr)
		  ORDER BY 1, 2, 3}, 7
	],);

for my $c (@same)
{
	my ($name, $sql, $rows) = @$c;
	my $src = $node->safe_psql('src', $sql);
	my $dst = query('dst', $sql);
	my @lines = split /\n/, $src;
	my $n = scalar @lines;
	is($n, $rows, "src: $name has $rows rows");
	is($dst, $src, "dst = src: $name");
}

# list_sessions page by page with the tokens: same pages in both databases.
sub walk_pages
{
	my ($db) = @_;
	my ($token, @pages) = ('NULL');
	for (1 .. 10)
	{
		my $page = query($db,
			"SELECT l::text FROM session_store.list_sessions('travel-agent', NULL, 2, $token) l");
		last if $page eq '';
		push @pages, $page;
		$token = ql(
			query(
				$db,
				"SELECT next_page_token FROM session_store.list_sessions('travel-agent', NULL, 2, $token) WITH ORDINALITY l ORDER BY ordinality DESC LIMIT 1"
			));
	}
	return @pages;
}
my @src_pages = walk_pages('src');
is(scalar(@src_pages), 3, 'src: five travel-agent sessions in 3 pages of 2');
is_deeply([ walk_pages('dst') ], \@src_pages,
	'dst = src: list_sessions pages reached through next_page_token');

# ---------------------------------------------------------------------------
# 4. dst goes on as the same store.
# ---------------------------------------------------------------------------

is( query(
		'dst', qq{
SELECT session_id FROM session_store.get_session('travel-agent', 'alice', $WID)}),
	$weird_id,
	'dst: the unicode, quote-laden session id is found by its exact bytes');

# Sequence numbers are never reused: trip-b continues after last_seq 10 even
# though its highest stored message is 5.
my $b_version = query('dst',
	q{SELECT version FROM session_store.get_session('travel-agent', 'bob', 'trip-b')});
is( query('dst', q{
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('travel-agent', 'bob', 'trip-b',
	'[{"n": "after restore 1"}, {"n": "after restore 2"}]')}),
	'11|12|' . ($b_version + 1) . '|f',
	'dst: append after pop/rewind continues at last_seq + 1 (11..12)');
is( query('dst', q{
SELECT string_agg(seq::text, ',' ORDER BY seq)
FROM session_store.get_messages('travel-agent', 'bob', 'trip-b')}),
	'1,2,3,4,5,11,12',
	'dst: trip-b holds its restored messages and the new ones');

# Idempotency keys used before the dump replay after restore, even with other
# messages and a stale expected_version, and write nothing.
my $a_before = query('dst', q{
SELECT s.version, s.last_seq, (SELECT count(*) FROM session_store.get_messages('travel-agent', 'alice', 'trip-1'))
FROM session_store.get_session('travel-agent', 'alice', 'trip-1') s});
(my $req2_replayed = $req2_result) =~ s/\|f$/|t/;
is( query('dst', q{
SELECT first_seq, last_seq, version, update_time, replayed
FROM session_store.append_messages('travel-agent', 'alice', 'trip-1',
	'[{"role": "user", "content": "something else"}]',
	expected_version => 0, idempotency_key => 'req-2')}),
	$req2_replayed,
	'dst: idempotency key req-2 from before the dump replays its first result');
is( query('dst', q{
SELECT s.version, s.last_seq, (SELECT count(*) FROM session_store.get_messages('travel-agent', 'alice', 'trip-1'))
FROM session_store.get_session('travel-agent', 'alice', 'trip-1') s}),
	$a_before,
	'dst: the replay wrote nothing');
(my $weird_replayed = $weird_append) =~ s/\|f$/|t/;
is( query('dst', qq{
SELECT first_seq, last_seq, version, update_time, replayed
FROM session_store.append_messages('travel-agent', 'alice', $WID, '[]',
	idempotency_key => $WKEY)}),
	$weird_replayed,
	'dst: the unicode idempotency key on the unicode session replays');
is( query('dst', q{
SELECT first_seq, last_seq, replayed
FROM session_store.append_messages('travel-agent', 'alice', 'trip-1',
	'[{"role": "user", "content": "new"}]', idempotency_key => 'req-new')}),
	'56|56|f',
	'dst: a key never used before is not a replay and appends after seq 55');

# Keys written by 1.1 calls keep their request digest: the same request
# replays, other content under the key is refused (42710), and a replayed
# replace_messages reports the count it removed.
is( query('dst', q{
SELECT first_seq, last_seq, replayed
FROM session_store.append_messages('code-agent', 'dave', 'v11',
	'[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "draft"}]',
	state_delta => '{"pending": null, "turn": 1}', keep_nulls => true,
	message_time => '2026-05-01 12:00:00+00', idempotency_key => 'v11-1',
	verify_replay => true)}),
	'1|2|t',
	'dst: a 1.1 key replays the same request');
like( query('dst', q{
SELECT first_seq FROM session_store.append_messages('code-agent', 'dave', 'v11',
	'[{"role": "user", "content": "other"}]', idempotency_key => 'v11-1',
	verify_replay => true)}),
	qr/already used with different content/,
	'dst: a 1.1 key with other content is refused');
is( query('dst', q{
SELECT first_seq, last_seq, replayed, removed
FROM session_store.replace_messages('code-agent', 'dave', 'v11',
	'[{"role": "assistant", "content": "draft"}]',
	'[{"role": "assistant", "content": "final"}, {"role": "user", "content": "thanks"}]',
	idempotency_key => 'v11-2')}),
	'3|4|t|1',
	'dst: a replace_messages key replays with its removed count');

# A new session with a NULL id, for the user of the first restored session
# (sid 1): its sid comes from the restored sequence, above every restored sid,
# so its messages are its own.
my $max_sid = query('dst', 'SELECT max(sid) FROM session_store.sessions');
my $new_id = query('dst',
	q{SELECT session_id FROM session_store.create_session('travel-agent', 'alice')});
like($new_id, qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
	'dst: create_session with a NULL id returns a UUID');
cmp_ok(
	query('dst',
		qq{SELECT sid FROM session_store.sessions
		   WHERE app_name = 'travel-agent' AND user_id = 'alice' AND session_id = '$new_id'}
	),
	'>', $max_sid,
	'dst: the new session\'s sid is above every restored sid');
is( query('dst', qq{
SELECT first_seq, last_seq, replayed
FROM session_store.append_messages('travel-agent', 'alice', '$new_id',
	'[{"role": "user", "content": "fresh 1"}, {"role": "user", "content": "fresh 2"}]')}),
	'1|2|f',
	'dst: the new session\'s first append gets seq 1..2');
is( query('dst', qq{
SELECT string_agg(seq || ':' || (message->>'content'), ',' ORDER BY seq)
FROM session_store.get_messages('travel-agent', 'alice', '$new_id')}),
	'1:fresh 1,2:fresh 2',
	'dst: the new session holds only its own messages');
my $trip1_sql = q{SELECT m.* FROM session_store.get_messages('travel-agent', 'alice', 'trip-1', before_seq => 56) m};
is(query('dst', $trip1_sql), $node->safe_psql('src', $trip1_sql),
	'dst: the restored messages of trip-1 are untouched by the new session');

$node->stop;

done_testing();
