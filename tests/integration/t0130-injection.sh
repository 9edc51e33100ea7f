#!/usr/bin/env bash
# A parameter can never inject shell syntax: hostile string values (quotes, $(…), backticks,
# newlines, globs) substituted into shell-form and argv-form runs execute nothing and arrive in
# the step byte for byte — as an argument and as $SLUICE_PARAM_<NAME> — wherever the
# substitution stands: a bare word, inside "…" or '…', a comment, a here-document.
. "$(dirname "$0")/lib.sh"

db() { sqlite3 .sluice/sluice.db "$@"; }
last_run() { db 'SELECT max(id) FROM runs'; }
run_status() { db "SELECT status FROM runs WHERE id = $1"; }

export PROBE=$TRASH/probe
mkdir -p probe pipe/steps

# Every value tries to create a file named pwned* (in the step's folder, pipe/, or here).
V1="'; touch pwned; echo '"
V2='$(touch pwned2)'
V3='`touch pwned3`'
V4=$'line1\nline2; touch pwned4\n'
V5='"; touch pwned5; echo " \ $HOME * ${{ params.evil }} %s'
V6=$'\'"$(touch pwned6)"\'\n`touch pwned7`;|&><'

# clean: forget the probes and pwned files of the tests before
clean() {
    rm -f probe/*
    find "$TRASH" -name "pwned*" -delete
}

no_pwned() {
    local found
    found=$(find "$TRASH" -name "pwned*")
    [ -z "$found" ] || { echo "created: $found"; return 1; }
}

cat >pipe/p.yaml <<'EOF'
pipeline: inject
params:
  evil: harmless
steps:
  shell:
    run: |
      printf '%s' ${{ params.evil }} > "$PROBE/shell.out"
      printf '%s' "$SLUICE_PARAM_EVIL" > "$PROBE/env.out"
  mixed:
    run: |
      printf '%s' pre-${{ params.evil }}-post > "$PROBE/mixed.out"
  argv:
    run: [sh, -c, 'printf "%s" "$1" > "$PROBE/argv.out"', sh, "${{ params.evil }}"]
  argvmix:
    run: [sh, -c, 'printf "%s" "$1" > "$PROBE/argvmix.out"', sh, "<${{ params.evil }}>"]
  direct:
    run: sh steps/write.sh direct ${{ params.evil }}
EOF

# write.sh NAME VALUE...: the value and the argument count, for a shell-free command line
# (which sluice may exec without a shell).
cat >pipe/steps/write.sh <<'EOF'
printf '%s' "$2" > "$PROBE/$1.out"
echo $(($# - 1)) > "$PROBE/$1.argc"
EOF

# check_value VALUE: run with -p evil=VALUE; every form must see VALUE exactly.
check_value() {
    local v=$1
    clean
    sluice run pipe/p.yaml -p "evil=$v" >out 2>err || { cat err; return 1; }
    printf '%s' "$v" >want
    printf '%s' "pre-$v-post" >want-mixed
    printf '%s' "<$v>" >want-argvmix
    test "$(run_status "$(last_run)")" = succeeded &&
    cmp want probe/shell.out &&
    cmp want probe/env.out &&
    cmp want-mixed probe/mixed.out &&
    cmp want probe/argv.out &&
    cmp want-argvmix probe/argvmix.out &&
    cmp want probe/direct.out &&
    test "$(cat probe/direct.argc)" = 1 &&
    no_pwned
}

expect_success "a value closing a single quote: $V1" 'check_value "$V1"'
expect_success "a command substitution: $V2" 'check_value "$V2"'
expect_success "backticks: $V3" 'check_value "$V3"'
expect_success 'newlines, and a trailing newline' 'check_value "$V4"'
expect_success "double quotes, a backslash, \$HOME, a glob, a template: $V5" 'check_value "$V5"'
expect_success 'quotes around a substitution, and control operators' 'check_value "$V6"'

expect_success 'the parameter is stored byte for byte with the run' '
    printf "%s" "$V6" >want &&
    db "SELECT hex(value) FROM run_params
        WHERE run_id = $(last_run) AND name = '\''evil'\''" >got &&
    test "$(cat got)" = "$(od -An -v -tx1 want | tr -d " \n" | tr a-f A-F)"
'

# A hostile default, written in the pipeline file itself.
cat >pipe/default.yaml <<'EOF'
pipeline: inject-default
params:
  evil: "'$(touch pwned_default)'; touch pwned_default2 #"
steps:
  shell:
    run: printf '%s' ${{ params.evil }} > "$PROBE/default.out"
EOF

expect_success 'a hostile default from the pipeline file is inert too' '
    clean &&
    sluice run pipe/default.yaml >out 2>err &&
    printf "%s" "'\''\$(touch pwned_default)'\''; touch pwned_default2 #" >want &&
    cmp want probe/default.out &&
    no_pwned
'

# Users quote out of habit: a substitution inside "…" or '…' of a shell-form run must be just as
# inert, and still arrive byte for byte.
cat >pipe/quoted.yaml <<'EOF'
pipeline: inject-quoted
params:
  evil: harmless
steps:
  dq:
    run: printf '%s' "${{ params.evil }}" > "$PROBE/dq.out"
  sq:
    run: printf '%s' '${{ params.evil }}' > "$PROBE/sq.out"
EOF

# check_quoted VALUE: runs quoted.yaml with it; every pwned file is reported.
check_quoted() {
    local v=$1 ok=0
    clean
    sluice run pipe/quoted.yaml -p "evil=$v" >out 2>err
    printf '%s' "$v" >want
    cmp want probe/dq.out || ok=1
    cmp want probe/sq.out || ok=1
    no_pwned || ok=1
    return $ok
}

expect_success 'inside double or single quotes, $(…) does not run: $(touch pwned2)' '
    check_quoted "$V2"
'
expect_success 'inside double or single quotes, backticks do not run' 'check_quoted "$V3"'
expect_success 'inside double or single quotes, a closing quote does not escape' '
    check_quoted "$V1" && check_quoted "\"; touch pwned5; echo \""
'

# A value in a comment must not end the comment with a newline.
cat >pipe/comment.yaml <<'EOF'
pipeline: inject-comment
params:
  evil: harmless
steps:
  commented:
    run: |
      # evil is ${{ params.evil }}
      printf '%s' "$SLUICE_PARAM_EVIL" > "$PROBE/comment.out"
EOF

expect_success 'a newline in a value substituted into a comment runs nothing' '
    clean &&
    v=$(printf "x\ntouch pwned8\n#") &&
    sluice run pipe/comment.yaml -p "evil=$v" >out 2>err
    no_pwned &&
    printf "%s" "$v" >want && cmp want probe/comment.out
'

# In a here-document body the shell expands $(…) and backticks whatever the quotes around
# them, and a line equal to the delimiter ends the body wherever it came from.
cat >pipe/heredoc.yaml <<'EOF'
pipeline: inject-heredoc
params:
  evil: harmless
steps:
  heredoc:
    run: |
      cat > "$PROBE/heredoc.out" <<END
      ${{ params.evil }}
      touch pwned10
      END
EOF

expect_success 'a value in a here-document runs nothing and arrives as it is' '
    clean &&
    sluice run pipe/heredoc.yaml -p "evil=$V2" >out 2>err
    no_pwned &&
    printf "%s\n" "$V2" "touch pwned10" >want && test_cmp want probe/heredoc.out
'

expect_success 'a value equal to the here-document'\''s delimiter does not end it' '
    clean &&
    sluice run pipe/heredoc.yaml -p "evil=END" >out 2>err
    no_pwned
'

done_testing
