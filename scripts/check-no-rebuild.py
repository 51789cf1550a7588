"""Reads `cargo build --message-format=json` from stdin and fails when it
compiled a dependency (a crate from a registry or git) instead of reusing
what an earlier command built: the README's two commands must share one
build of DataFusion, candle and the rest. Workspace crates may rebuild."""

import json
import sys

rebuilt = []
for line in sys.stdin:
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        continue
    if message.get("reason") != "compiler-artifact" or message.get("fresh", True):
        continue
    package = message.get("package_id", "")
    if package.startswith("path+file://"):
        continue
    rebuilt.append(message["target"]["name"])

if rebuilt:
    print(
        f"the command recompiled {len(rebuilt)} dependencies that the one before it had built "
        f"(features differ between the two): {', '.join(sorted(set(rebuilt)))}",
        file=sys.stderr,
    )
    sys.exit(1)
print("no dependency was recompiled")
