#!/usr/bin/env bash
# The portal's translations: `scripts/i18n.sh update` extracts every marked string from the
# templates and portal code into messages.pot and merges it into each language's .po (new
# strings arrive empty, changed ones fuzzy); translate those, then `scripts/i18n.sh check`
# (the test suite runs the same check). Catalogues are compiled in memory at start-up.
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=.venv/bin/pybabel
LOCALE=src/fabriek/portal/locale
case "${1:-update}" in
  update)
    mkdir -p "$LOCALE"
    $PYBABEL -q extract -F src/fabriek/portal/babel.cfg -k N_ --no-location --sort-output \
      --project Fabriek -o "$LOCALE/messages.pot" .
    for po in "$LOCALE"/*/LC_MESSAGES/messages.po; do
      [ -e "$po" ] || continue  # no language yet: start one with `pybabel init`
      $PYBABEL -q update --no-fuzzy-matching -i "$LOCALE/messages.pot" -o "$po" \
        -l "$(basename "$(dirname "$(dirname "$po")")")"
    done ;;
  check)
    PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} exec .venv/bin/python -m pytest -q \
      tests/portal/test_i18n.py ;;
  *) echo "usage: $0 [update|check]" >&2; exit 2 ;;
esac
