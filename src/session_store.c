/*-------------------------------------------------------------------------
 *
 * session_store.c
 *	  Module entry point: the limits, as GUCs; the planner guard of
 *	  distributed mode, when preloaded (citus.c).
 *
 * The SQL-callable functions live in the other files; session_store.h has
 * the map of the module.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "utils/guc.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

/* session_store.max_message_size: bytes of one message (jsonb) */
int			ss_max_message_size = 16 * 1024 * 1024;

/* session_store.max_batch_messages: messages of one append_messages call */
int			ss_max_batch_messages = 1000;

void		_PG_init(void);

/*
 * Both limits are superuser-settable only (PGC_SUSET): they protect the
 * database from its clients, so a client cannot raise them for itself.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("session_store.max_message_size",
							"Largest message append_messages accepts, as stored (jsonb).",
							NULL,
							&ss_max_message_size,
							16 * 1024 * 1024, 1024, MaxAllocSize,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("session_store.max_batch_messages",
							"Most messages one append_messages call accepts.",
							NULL,
							&ss_max_batch_messages,
							1000, 1, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	ss_citus_init();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("session_store");
#else
	EmitWarningsOnPlaceholders("session_store");
#endif
}
