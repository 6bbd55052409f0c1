#!/usr/bin/env python3
"""Generate a deterministic, realistic customers CSV for the benchmarks.

Usage:
    gen_customers.py ROWS OUTPUT.csv [--seed N]

The same ROWS and seed always give the same bytes (the benchmark caches the
file and the staging step hashes it), so nothing here may depend on the
clock, the locale or dict/set ordering.

Columns (header line first, CRLF-free, UTF-8):

    id            1..ROWS, the target's primary key
    email         lower-case, mostly unique, a few shared by two records
    name          "Last, First" (quoted: contains the delimiter) for about a
                  third of the rows, "First Last" otherwise; about 8 % carry
                  non-ASCII letters (José, Łukasz, Zoë, 山田 ...), about 1 %
                  embedded double quotes (nicknames: Robert "Bob" Smith)
    phone         mixed formats; 45 % national with a leading zero
                  (0412 345678) and 15 % with "00": codes that only survive
                  as text
    country       ISO 3166 alpha-2
    signup_date   ISO date, 2015-01-01 .. 2024-12-31
    credit_limit  whole or two-place decimal, empty (NULL) for about 5 %
    notes         empty (NULL) for most rows; otherwise free text, sometimes
                  quoted with commas and quotes, and about 0.1 % spanning two
                  lines (a quoted newline: still one record)

The average record is about 78 bytes, so 1,000,000 rows make a ~78 MB file.
Standard library only; about 2 s per million rows on the bench machine.
"""

import argparse
import datetime
import os
import random
import sys

FIRST = [
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael",
    "Linda", "William", "Elizabeth", "David", "Barbara", "Richard", "Susan",
    "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen", "Anna",
    "Lukas", "Sophie", "Paul", "Emma", "Liam", "Olivia", "Noah", "Ava",
    "Lea", "Jan", "Eva", "Tom", "Kim", "Ali", "Mia", "Ian", "Zoe",
]
LAST = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
    "Davis", "Wilson", "Taylor", "Clark", "Lewis", "Walker", "Hall", "Young",
    "King", "Wright", "Lopez", "Hill", "Scott", "Green", "Adams", "Baker",
    "Nelson", "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Evans",
    "Müller", "Schmidt", "Weber", "Fischer", "Meyer", "Wagner", "Becker",
    "Lee", "Kim", "Park", "Chen", "Wang", "Li", "Ng", "Ito", "Sato",
]
# Non-ASCII given names and surnames (about 8 % of rows use one of each).
FIRST_INTL = ["José", "Zoë", "Łukasz", "Ægir", "Søren", "Chloé", "Jürgen",
              "Fañch", "Ōta", "Đorđe", "İlkay", "Дмитрий", "花子", "Mónica"]
LAST_INTL = ["Núñez", "Ångström", "Dvořák", "Øster", "Çelik", "Kovačević",
             "Şahin", "Gößling", "Żukowski", "Иванов", "山田", "François"]
NICK = ["Bob", "Bill", "Liz", "Jim", "Kate", "Rob", "Meg", "Al"]
DOMAINS = ["example.com", "ex.net", "mail.test", "ex.org", "shop.io"]
COUNTRIES = ["US", "US", "US", "GB", "DE", "DE", "FR", "AU", "CA", "NL",
             "IT", "ES", "JP", "BR", "IN", "SE", "PL"]
NOTES = [
    "VIP", "call back", "prefers email", "net 30",
    '"late payer, twice in 2023"',
    '"asked for ""paperless"" billing"',
    '"moved: see ticket 4411, 4412"',
    "duplicate?", "tax exempt", '"ship to office, not home"',
]


def make_pool(rng, size, fn):
    """A pool of `size` precomputed values: choosing from pools is what
    keeps 1M rows fast in pure Python."""
    return [fn(rng) for _ in range(size)]


def name_value(rng):
    r = rng.random()
    intl = r < 0.08
    first = rng.choice(FIRST_INTL if intl else FIRST)
    last = rng.choice(LAST_INTL if intl and rng.random() < 0.7 else LAST)
    if r > 0.99:
        # embedded quotes: CSV doubles them inside a quoted field
        return '"%s ""%s"" %s"' % (first, rng.choice(NICK), last)
    if rng.random() < 0.33:
        return '"%s, %s"' % (last, first)        # contains the delimiter
    return "%s %s" % (first, last)


def phone_value(rng):
    r = rng.random()
    if r < 0.45:
        # national format with its leading zero: must stay text
        return "0%d %06d" % (rng.randint(100, 999), rng.randint(0, 999999))
    if r < 0.85:
        return "+1%010d" % rng.randint(2000000000, 9999999999)
    return "00%d-%04d" % (rng.randint(10, 99), rng.randint(0, 9999))


def credit_value(rng):
    if rng.random() < 0.05:
        return ""                                # NULL in CSV
    cents = rng.choice((0, 0, 0, 50, 99))
    if cents == 0 and rng.random() < 0.7:
        return "%d" % (rng.randint(1, 200) * 50)   # whole amounts: no ".00"
    return "%d.%02d" % (rng.randint(1, 200) * 50, cents)


def note_value(rng):
    r = rng.random()
    if r < 0.001:
        return '"first line\nsecond, line"'    # one record, two lines
    return rng.choice(NOTES)


def generate(rows, path, seed):
    rng = random.Random(seed)
    names = make_pool(rng, 4096, name_value)
    phones = make_pool(rng, 8192, phone_value)
    credits = make_pool(rng, 1024, credit_value)
    notes = make_pool(rng, 2048, note_value)
    base = datetime.date(2015, 1, 1).toordinal()
    dates = [datetime.date.fromordinal(base + i).isoformat() for i in range(3653)]
    locals_ = [f[0].lower() + l.lower() for f in FIRST for l in LAST if l.isascii()]

    tmp = path + ".tmp"
    chunk = 50000
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write("id,email,name,phone,country,signup_date,credit_limit,"
                  "notes\n")
        for start in range(1, rows + 1, chunk):
            n = min(chunk, rows + 1 - start)
            # one C-level draw per column per chunk
            nm = rng.choices(names, k=n)
            ph = rng.choices(phones, k=n)
            co = rng.choices(COUNTRIES, k=n)
            dt = rng.choices(dates, k=n)
            cr = rng.choices(credits, k=n)
            lo = rng.choices(locals_, k=n)
            dm = rng.choices(DOMAINS, k=n)
            # notes: ~85 % empty
            has_note = [x < 0.15 for x in (rng.random() for _ in range(n))]
            nt = rng.choices(notes, k=n)
            lines = []
            append = lines.append
            for i in range(n):
                rid = start + i
                # mostly unique emails; every 997th shares its neighbour's
                num = rid - 1 if rid % 997 == 0 else rid
                append("%d,%s%d@%s,%s,%s,%s,%s,%s,%s\n" % (
                    rid, lo[i], num, dm[i], nm[i], ph[i], co[i], dt[i],
                    cr[i], nt[i] if has_note[i] else ""))
            out.write("".join(lines))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows", type=int, help="number of data records")
    ap.add_argument("output", help="path of the CSV file to write")
    ap.add_argument("--seed", type=int, default=20240607)
    args = ap.parse_args()
    if args.rows < 0:
        ap.error("rows must be >= 0")
    generate(args.rows, args.output, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
