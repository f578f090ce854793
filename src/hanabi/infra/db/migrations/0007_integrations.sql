-- Daily translation quota: one counter per scope ("guild:<id>", or "user:<id>" in DMs) and UTC day.
CREATE TABLE translation_usage (
    scope text   NOT NULL CHECK (char_length(scope) BETWEEN 1 AND 64),
    day   date   NOT NULL,
    used  bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (scope, day)
);

-- Old days are only ever deleted by date.
CREATE INDEX translation_usage_day ON translation_usage (day);
