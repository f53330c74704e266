#!/usr/bin/env bash
# The seed recipe's deploy script (shared/seed/, "Деплоим с докером без простоя", 2018), kept step for
# step: scale the service to 2 with --no-recreate, sleep 5, find the newest container's IP, poll its
# /hc with curl once a second, then `docker stop` + `docker rm` the old container.
# Changes, all needed to run it unattended and none affecting its behaviour under load:
#   - project/service/port/compose binary come from env; container names match compose v1 (_) and v2 (-);
#   - `sort -n` instead of `sort` (the seed's lexical sort picks _10 before _9);
#   - the poll loop is bounded (POLL_MAX tries, then exit 1);
#   - "STEP name" lines, which the bench timestamps and marks on the charts.
# Env: COMPOSE_FILE (required), PROJECT (required), SERVICE (app), APP_PORT (3000), RECIPE_SLEEP (5),
#      COMPOSE ("docker-compose" or "docker compose"), POLL_MAX (120).
set -u
: "${COMPOSE_FILE:?}" "${PROJECT:?}"
SERVICE="${SERVICE:-app}"
APP_PORT="${APP_PORT:-3000}"
RECIPE_SLEEP="${RECIPE_SLEEP:-5}"
COMPOSE="${COMPOSE:-docker-compose}"
POLL_MAX="${POLL_MAX:-120}"
step() { echo "STEP $*"; }

CONTAINER_RE="^${PROJECT}[_-]${SERVICE}[_-][0-9]+$"
names() { docker ps | awk '{print $NF}' | grep -E "$CONTAINER_RE"; }
# the number at the end of the container's name increments with every new container: remember the
# first one (the old version)
FIRST_NUM=$(names | awk -F '[_-]' '{print $NF}' | sort -n | head -1)
NUM_OF_CONTAINERS=1
MAX_NUM_OF_CONTAINERS=2
name_of() { names | grep -E "[_-]$1$" | head -1; }

# no app container yet: just start it
if [[ $FIRST_NUM = "" ]]; then
  $COMPOSE -f "$COMPOSE_FILE" -p "$PROJECT" up -d "$SERVICE"
  exit 0
fi

step scale
$COMPOSE -f "$COMPOSE_FILE" -p "$PROJECT" up --scale "$SERVICE=$MAX_NUM_OF_CONTAINERS" --no-recreate -d "$SERVICE"

step sleep
sleep "$RECIPE_SLEEP"

# the new container's number and IP address
NEW_CONTAINER_NUM=$(names | awk -F '[_-]' '{print $NF}' | sort -n | tail -1)
NEW_CONTAINER_IP=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(name_of "$NEW_CONTAINER_NUM")")

step poll
for ((try = 0; try < POLL_MAX; try++)); do
  sleep 1
  STATUS_CODE=$(curl -s -o /dev/null -w "%{http_code}" "http://$NEW_CONTAINER_IP:$APP_PORT/hc")
  echo "$STATUS_CODE"
  # wait until the new container is up
  if [[ $STATUS_CODE = 200 ]]; then
    # stop and remove the old one(s)
    for ((i = FIRST_NUM; i < NUM_OF_CONTAINERS + FIRST_NUM; i++)); do
      OLD=$(name_of "$i")
      step stop
      docker stop "$OLD"
      step rm
      docker rm "$OLD"
      step done
      exit 0
    done
  fi
done
echo "new container not healthy after $POLL_MAX tries" >&2
exit 1
