#!/bin/sh
# Continuous Synthea feed: a new batch every 20 s into incoming/ until Ctrl+C (stops between batches).
# Runs medetl from this checkout in the current folder (its config.yaml, or -c). Extra arguments
# pass through, e.g.   scripts/feed.sh --patients 20 --noise heavy      scripts/feed.sh --every 2m
# (a later --every wins over the default one).
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
exec npx --prefix "$root" medetl generate --every 20s "$@"
