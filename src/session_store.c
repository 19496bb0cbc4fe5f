/*-------------------------------------------------------------------------
 *
 * session_store.c
 *	  Module entry point.
 *
 * The SQL-callable functions live in session.c, append.c and messages.c;
 * see session_store.h for the map of the module.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

PG_MODULE_MAGIC;
