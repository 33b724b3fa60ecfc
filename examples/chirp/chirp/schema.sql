-- chirp schema. Idempotent: applied at every web start and by `python -m chirp.migrate_db`.
-- Every table has a sequence-backed id so a data move can prove sequences survived
-- (the next id after a move must be above every id that was copied).

CREATE TABLE IF NOT EXISTS users (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS follows (
    id           bigserial PRIMARY KEY,
    follower_id  bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    followee_id  bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (follower_id, followee_id),
    CHECK (follower_id <> followee_id)
);
CREATE INDEX IF NOT EXISTS follows_followee ON follows (followee_id);

-- One row per stored object; the key is content-addressed (media/<sha256>), so the same
-- image uploaded twice is stored once. width/height/verified_at are filled by the worker.
CREATE TABLE IF NOT EXISTS media (
    id            bigserial PRIMARY KEY,
    key           text NOT NULL UNIQUE,
    sha256        char(64) NOT NULL,
    size          bigint NOT NULL CHECK (size >= 0),
    content_type  text NOT NULL,
    width         integer,
    height        integer,
    verified_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS posts (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    text        text NOT NULL CHECK (length(text) <= 500),
    media_id    bigint REFERENCES media(id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS posts_user_id ON posts (user_id, id DESC);

-- Work for `python -m chirp.worker`, claimed with SELECT ... FOR UPDATE SKIP LOCKED.
CREATE TABLE IF NOT EXISTS jobs (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL,
    payload      jsonb NOT NULL DEFAULT '{}'::jsonb,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'done', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    run_after    timestamptz NOT NULL DEFAULT now(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs (run_after) WHERE status = 'pending';
