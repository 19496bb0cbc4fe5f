/*
 * Storage: the same tables, columns (in the same order), indexes and
 * constraints as the C edition at 1.2, so that a database moves from one
 * edition to the other by copying rows (see the README).
 */

CREATE SEQUENCE session_store.session_sid_seq AS bigint;

CREATE TABLE session_store.sessions (
    app_name    text COLLATE "C" NOT NULL,
    user_id     text COLLATE "C" NOT NULL,
    session_id  text COLLATE "C" NOT NULL,
    sid         bigint NOT NULL,
    state       jsonb NOT NULL,
    version     bigint NOT NULL,
    last_seq    bigint NOT NULL,
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    PRIMARY KEY (app_name, user_id, session_id),
    CONSTRAINT sessions_app_name_bytes CHECK (
        pg_catalog.octet_length(app_name) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(app_name) OPERATOR(pg_catalog.<=) 128),
    CONSTRAINT sessions_user_id_bytes CHECK (
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.<=) 128),
    CONSTRAINT sessions_session_id_bytes CHECK (
        pg_catalog.octet_length(session_id) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(session_id) OPERATOR(pg_catalog.<=) 128)
);
CREATE INDEX sessions_app_recent_idx
    ON session_store.sessions (app_name, update_time DESC, user_id, session_id);
CREATE INDEX sessions_user_recent_idx
    ON session_store.sessions (app_name, user_id, update_time DESC, session_id);

CREATE TABLE session_store.messages (
    user_id     text COLLATE "C" NOT NULL,
    sid         bigint NOT NULL,
    seq         bigint NOT NULL,
    message     jsonb NOT NULL,
    create_time timestamptz NOT NULL,
    PRIMARY KEY (user_id, sid, seq),
    CONSTRAINT messages_user_id_bytes CHECK (
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.<=) 128)
);

CREATE TABLE session_store.idempotency_keys (
    user_id         text COLLATE "C" NOT NULL,
    sid             bigint NOT NULL,
    idempotency_key text COLLATE "C" NOT NULL,
    first_seq       bigint,
    last_seq        bigint,
    version         bigint NOT NULL,
    update_time     timestamptz NOT NULL,
    request_digest  bytea,
    removed         bigint,
    operation       text COLLATE "C",
    popped_message  jsonb,
    popped_time     timestamptz,
    PRIMARY KEY (user_id, sid, idempotency_key),
    CONSTRAINT idempotency_keys_user_id_bytes CHECK (
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.<=) 128),
    CONSTRAINT idempotency_keys_idempotency_key_bytes CHECK (
        pg_catalog.octet_length(idempotency_key) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(idempotency_key) OPERATOR(pg_catalog.<=) 128)
);

CREATE TABLE session_store.user_states (
    app_name    text COLLATE "C" NOT NULL,
    user_id     text COLLATE "C" NOT NULL,
    state       jsonb NOT NULL,
    PRIMARY KEY (app_name, user_id),
    CONSTRAINT user_states_app_name_bytes CHECK (
        pg_catalog.octet_length(app_name) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(app_name) OPERATOR(pg_catalog.<=) 128),
    CONSTRAINT user_states_user_id_bytes CHECK (
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.<=) 128)
);

CREATE TABLE session_store.app_states (
    app_name    text COLLATE "C" NOT NULL,
    state       jsonb NOT NULL,
    PRIMARY KEY (app_name),
    CONSTRAINT app_states_app_name_bytes CHECK (
        pg_catalog.octet_length(app_name) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(app_name) OPERATOR(pg_catalog.<=) 128)
);

CREATE TYPE session_store.session AS (
    app_name    text,
    user_id     text,
    session_id  text,
    state       jsonb,
    version     bigint,
    last_seq    bigint,
    create_time timestamptz,
    update_time timestamptz
);

CREATE TYPE session_store.session_summary AS (
    user_id         text,
    session_id      text,
    version         bigint,
    last_seq        bigint,
    create_time     timestamptz,
    update_time     timestamptz,
    next_page_token text
);

/* a row of list_sessions_with_state (1.2): session_summary's columns, then the merged state */
CREATE TYPE session_store.session_summary_with_state AS (
    user_id         text,
    session_id      text,
    version         bigint,
    last_seq        bigint,
    create_time     timestamptz,
    update_time     timestamptz,
    next_page_token text,
    state           jsonb
);
