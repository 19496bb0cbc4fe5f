/*-------------------------------------------------------------------------
 *
 * lock.c
 *	  The per-session lock.
 *
 * Every call that changes a session, or must read it consistently before
 * changing it, first takes an exclusive, transaction-scoped advisory lock on
 * the session's names.  It is held until commit or abort, so the next holder
 * starts after this one's commit is visible.
 *
 * The lock lives in the extension's own advisory lock space: the fourth tag
 * field, which pg_advisory_lock() sets to 1 (one bigint key) or 2 (two int
 * keys), is SS_LOCKSPACE_SESSION here, so no key an application passes to
 * pg_advisory_lock() can ever name the same lock.  In pg_locks these locks
 * show as locktype 'advisory' with objsubid 21331.
 *
 * The other two fields hold a 64-bit hash of the three names.  Two sessions
 * whose names collide would merely share a lock (serialize), never be
 * treated as one session; with 64 bits that is not expected to happen.
 *
 * Lock order: session lock, then the user's state row, then the app's state
 * row (both row locks, taken by their upserts).  fork_session, the only
 * call that locks two sessions, takes them in tag order.  Every call follows
 * this order, so no two calls deadlock on each other.  A transaction of
 * several calls holds every session lock it took until it ends, so two such
 * transactions can: PostgreSQL's deadlock detector ends one with 40P01.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"

#define SS_LOCKSPACE_SESSION 0x5353	/* "SS" = 21331 */

/* Seeds for the three names; any fixed, distinct values will do. */
#define SEED_APP	UINT64CONST(0x73657373696f6e31)
#define SEED_USER	UINT64CONST(0x73657373696f6e32)
#define SEED_SESS	UINT64CONST(0x73657373696f6e33)

static uint64
HashText(text *t, uint64 seed)
{
	return hash_bytes_extended((const unsigned char *) VARDATA_ANY(t),
							   VARSIZE_ANY_EXHDR(t), seed);
}

/* The lock tag of one session. */
static void
SessionLockTag(const SessionKey *key, LOCKTAG *tag)
{
	uint64		h;

	h = HashText(key->app_name, SEED_APP);
	h = hash_combine64(h, HashText(key->user_id, SEED_USER));
	h = hash_combine64(h, HashText(key->session_id, SEED_SESS));
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId,
						 (uint32) (h >> 32), (uint32) h,
						 SS_LOCKSPACE_SESSION);
}

/* Take the session's lock, waiting as long as it takes (or lock_timeout). */
void
ss_lock_session(const SessionKey *key)
{
	LOCKTAG		tag;

#ifdef SESSION_STORE_TEST_NO_SESSION_LOCK
	/* test-only build: shows which tests depend on this lock */
	return;
#endif
	SessionLockTag(key, &tag);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * Take the locks of two sessions (fork_session's source and new session),
 * lower tag first, so that two calls locking the same pair in opposite
 * roles cannot deadlock.
 */
void
ss_lock_two_sessions(const SessionKey *a, const SessionKey *b)
{
	LOCKTAG		ta;
	LOCKTAG		tb;
	bool		a_first;

#ifdef SESSION_STORE_TEST_NO_SESSION_LOCK
	return;
#endif
	SessionLockTag(a, &ta);
	SessionLockTag(b, &tb);
	a_first = ta.locktag_field2 < tb.locktag_field2 ||
		(ta.locktag_field2 == tb.locktag_field2 &&
		 ta.locktag_field3 <= tb.locktag_field3);
	(void) LockAcquire(a_first ? &ta : &tb, ExclusiveLock, false, false);
	(void) LockAcquire(a_first ? &tb : &ta, ExclusiveLock, false, false);
}

/* Take the session's lock if it is free; false if someone holds it. */
bool
ss_try_lock_session(const SessionKey *key)
{
	LOCKTAG		tag;

#ifdef SESSION_STORE_TEST_NO_SESSION_LOCK
	return true;
#endif
	SessionLockTag(key, &tag);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * Release a session lock taken by ss_try_lock_session before commit.  Only
 * for a caller that changed nothing of the session under it.
 */
void
ss_unlock_session(const SessionKey *key)
{
	LOCKTAG		tag;

#ifdef SESSION_STORE_TEST_NO_SESSION_LOCK
	return;
#endif
	SessionLockTag(key, &tag);
	(void) LockRelease(&tag, ExclusiveLock, false);
}
