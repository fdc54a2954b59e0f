#!/bin/bash
# one alternating series: handoff, str0m frame openssl, str0m rtp openssl, str0m rtp rust-crypto
cd /work/wt-str0m
tag=$1; shift
for r in "$@"; do
  echo "=== handoff webrtc, $r rooms"; uptime
  timeout 200 target/release/handoff-load voice --launch ${SERVER_NICE:+--handoff-bin /tmp/handoff-nice.sh} --rooms $r --warmup-s 3 --duration-s 10 --quiet --json /tmp/series-$tag-handoff-$r.json 2>&1 | grep -E "packets sent|deliveries|server CPU|forwarded|^forwarding"
  echo "=== str0m frame openssl, $r rooms"
  timeout 200 load-tests/str0m-spike/run.sh cpu $r 2>&1
  echo "=== str0m rtp openssl, $r rooms"
  SPIKE_RTP_MODE=1 timeout 200 load-tests/str0m-spike/run.sh cpu $r 2>&1
  echo "=== str0m rtp rust-crypto, $r rooms"
  BIN_DIR=target/rust-crypto/release SPIKE_RTP_MODE=1 timeout 200 load-tests/str0m-spike/run.sh cpu $r 2>&1
done
