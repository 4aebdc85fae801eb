-- Trino functions for DuckDB, so that the Athena (Trino) SQL of
-- athena/queries runs unchanged. Each macro is tested against the values
-- Trino documents (macros_test.go). The local runner also sets
-- TimeZone = 'UTC' (Athena's session zone, used by current_date and by
-- timestamp-with-time-zone casts) and integer_division = true (7 / 2 = 3, as
-- in Trino). A macro with a Trino name shadows DuckDB's built-in function of
-- that name; system.main.<name> still reaches the built-in.

-- from_iso8601_timestamp(varchar) -> timestamp with time zone.
-- '2020-05-11T11:15:05.055+01:00', '2026-11-22T10:04:05.123Z', '2026-11-22'.
CREATE OR REPLACE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ);

-- from_iso8601_date(varchar) -> date.
CREATE OR REPLACE MACRO from_iso8601_date(s) AS CAST(s AS DATE);

-- to_iso8601(date | timestamp | timestamp with time zone) -> varchar, with
-- milliseconds as Trino's timestamp(3): '2020-03-01T00:00:00.123Z'.
CREATE OR REPLACE MACRO to_iso8601(x) AS
  CASE typeof(x)
    WHEN 'DATE' THEN strftime(x, '%Y-%m-%d')
    WHEN 'TIMESTAMP WITH TIME ZONE' THEN strftime(x, '%Y-%m-%dT%H:%M:%S.%gZ')
    ELSE strftime(x, '%Y-%m-%dT%H:%M:%S.%g')
  END;

-- trino_strftime_format(varchar) -> varchar: a Trino (MySQL) date_format
-- specifier string turned into DuckDB's strftime/strptime specifiers.
-- Same in both: %a %b %d %f %H %I %j %m %p %S %y %Y %%. Renamed: %M (month
-- name) -> %B, %W (weekday name) -> %A, %i (minutes) -> %M, %s (seconds) ->
-- %S, %h -> %I, %c -> %-m, %e -> %-d, %k -> %-H, %l -> %-I, %r -> %I:%M:%S %p,
-- %T -> %H:%M:%S, %v -> %V, %x -> %G. Literal %% is protected with chr(1).
CREATE OR REPLACE MACRO trino_strftime_format(f) AS
  replace(replace(replace(replace(replace(replace(replace(replace(
  replace(replace(replace(replace(replace(replace(
    replace(f, '%%', chr(1)),
    '%M', '%B'), '%W', '%A'), '%i', '%M'), '%s', '%S'), '%h', '%I'),
    '%c', '%-m'), '%e', '%-d'), '%k', '%-H'), '%l', '%-I'),
    '%r', '%I:%M:%S %p'), '%T', '%H:%M:%S'), '%v', '%V'), '%x', '%G'),
    chr(1), '%%');

-- date_format(timestamp | date, format) -> varchar, MySQL specifiers.
CREATE OR REPLACE MACRO date_format(x, f) AS strftime(x, trino_strftime_format(f));

-- date_add(unit, value, x): x plus value units, Trino's argument order.
-- Months clamp to the month's end (2026-01-31 + 1 month = 2026-02-28). On a
-- date DuckDB returns a timestamp at midnight, which compares equal to the
-- date; format it with date_format to get the day back.
CREATE OR REPLACE MACRO date_add(unit, n, x) AS
  CASE lower(unit)
    WHEN 'millisecond' THEN x + to_milliseconds(CAST(n AS BIGINT))
    WHEN 'second' THEN x + to_seconds(CAST(n AS BIGINT))
    WHEN 'minute' THEN x + to_minutes(CAST(n AS BIGINT))
    WHEN 'hour' THEN x + to_hours(CAST(n AS BIGINT))
    WHEN 'day' THEN x + to_days(CAST(n AS INTEGER))
    WHEN 'week' THEN x + to_weeks(CAST(n AS INTEGER))
    WHEN 'month' THEN x + to_months(CAST(n AS INTEGER))
    WHEN 'quarter' THEN x + to_months(CAST(3 * n AS INTEGER))
    WHEN 'year' THEN x + to_years(CAST(n AS INTEGER))
    ELSE error('date_add: unsupported unit ' || unit)
  END;

-- date_diff(unit, a, b): whole units from a to b, as Trino counts them
-- (23:00 to 01:00 the next day is 0 days). DuckDB's date_diff counts unit
-- boundaries instead; its date_sub counts whole units.
CREATE OR REPLACE MACRO date_diff(unit, a, b) AS date_sub(lower(unit), a, b);

-- approx_distinct(x) -> bigint: HyperLogLog distinct count (an estimate in
-- both engines; exact for small sets).
CREATE OR REPLACE MACRO approx_distinct(x) AS approx_count_distinct(x);

-- regexp_like(s, pattern) -> boolean: the pattern matches part of s.
CREATE OR REPLACE MACRO regexp_like(s, p) AS regexp_matches(s, p);

-- regexp_extract(s, pattern [, group]) -> varchar: the first match (or its
-- group), NULL when there is none (DuckDB's built-in returns '').
CREATE OR REPLACE MACRO regexp_extract(s, p) AS
    CASE WHEN regexp_matches(s, p) THEN system.main.regexp_extract(s, p) END,
  (s, p, g) AS
    CASE WHEN regexp_matches(s, p) THEN system.main.regexp_extract(s, p, g) END;

-- json_extract_scalar(json, path) -> varchar: the scalar at path as text;
-- NULL for an object, an array, JSON null or a missing path.
CREATE OR REPLACE MACRO json_extract_scalar(j, path) AS
  CASE WHEN json_type(j, path) IN ('OBJECT', 'ARRAY') THEN NULL
       ELSE json_extract_string(j, path) END;

-- element_at(map, key) -> value or NULL when the key is absent (Trino's
-- map[key] fails instead); element_at(array, i), 1-based, negative from the end.
CREATE OR REPLACE MACRO element_at(m, k) AS m[k];

-- url_extract_host(url) -> varchar: the host of an absolute or
-- scheme-relative URL, without user info or port, as java.net.URI's getHost
-- (which Trino uses) gives it; '' when the URL has no host ('foo',
-- 'mailto:a@b.c'); NULL when it is not a valid URI (characters a URI may not
-- hold, such as a space, '^' or '"', or a '%' not followed by two hex
-- digits). Unlike Java it does not check the host's own syntax.
CREATE OR REPLACE MACRO url_extract_host(u) AS
  CASE
    WHEN regexp_matches(u, '[\x00-\x20"<>\\^`{|}\x7F]')
      OR regexp_matches(u, '%([^0-9A-Fa-f]|[0-9A-Fa-f]([^0-9A-Fa-f]|$)|$)') THEN NULL
    ELSE system.main.regexp_extract(u, '^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//(?:[^/?#@]*@)?(\[[^\]]*\]|[^/?#:]*)', 1)
  END;

-- array_join(array, delimiter) -> varchar: the elements joined by the
-- delimiter, NULL elements left out.
CREATE OR REPLACE MACRO array_join(a, sep) AS array_to_string(a, sep);
