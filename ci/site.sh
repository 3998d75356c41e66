#!/usr/bin/env bash
# The published site's git steps for the nightly workflow (ci/github/nightly-gpu.yml), run from the
# clone's root; a script so tests/train/test_ci_nightly.py can rehearse several nights in a row.
#   ci/site.sh restore DIR           DIR becomes a worktree of origin's gh-pages (empty on night one)
#   ci/site.sh publish DIR MESSAGE   commit everything in DIR and push it to origin's gh-pages
#                                    (refused, with one line, when a file is over 50 MB)
set -euo pipefail
usage="usage: ci/site.sh restore DIR | publish DIR MESSAGE"
cmd=${1:?$usage}
dir=${2:?$usage}
case "$cmd" in
  restore)
    # On a persistent self-hosted runner the checkout cleans DIR away but git still lists it as a
    # worktree, and the next `worktree add` fails ("missing but already registered worktree").
    git worktree prune
    if [ -e "$dir" ]; then  # not cleaned (a rerun by hand): start from origin again
      git worktree remove --force "$dir" 2>/dev/null || rm -rf "$dir"
      git worktree prune
    fi
    rc=0
    git ls-remote --exit-code --heads origin gh-pages >/dev/null || rc=$?
    if [ "$rc" -eq 0 ]; then
      git fetch -q origin +refs/heads/gh-pages:refs/remotes/origin/gh-pages
      git worktree add -q --detach "$dir" refs/remotes/origin/gh-pages
    elif [ "$rc" -eq 2 ]; then  # no gh-pages yet: the first night starts an empty site
      git worktree add -q --detach "$dir"
      git -C "$dir" rm -rqf --ignore-unmatch .
    else  # origin unreachable: never publish over the site's history from an empty one
      echo "site: cannot reach origin (git ls-remote exit $rc)" >&2
      exit "$rc"
    fi
    ;;
  publish)
    message=${3:?$usage}
    cd "$dir"
    # The code host refuses files over 100 MB; the site keeps each file under 50 MB (thinned
    # records, ci/README.md) and never pushes one over it.
    big=$(find . -path ./.git -prune -o -type f -size +50000000c -print | head -n 1)
    if [ -n "$big" ]; then
      echo "site: $dir/${big#./} is $(($(stat -c %s "$big") / 1000000)) MB, over the 50 MB a site file may have; not publishing" >&2
      exit 1
    fi
    git add -A
    if git -c user.name=annealbench-nightly -c user.email=nightly@localhost \
        commit -qm "$message"; then
      git push -q origin HEAD:refs/heads/gh-pages
    else
      echo "site: nothing new to publish"
    fi
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
