# Continuous Synthea feed: a new batch every 20 s into incoming\ until Ctrl+C (stops between batches).
# Runs medetl from this checkout in the current folder (its config.yaml, or -c). Extra arguments
# pass through, e.g.   .\scripts\feed.ps1 --patients 20 --noise heavy      .\scripts\feed.ps1 --every 2m
# (a later --every wins over the default one).
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
& npx --prefix "$root" medetl generate --every 20s @args
exit $LASTEXITCODE
