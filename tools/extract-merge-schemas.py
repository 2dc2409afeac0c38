#!/usr/bin/env python3
"""Extracts the Merge request schemas Klaxon sends from the official OpenAPI documents into one
self-contained JSON file (every $ref inlined), so Rust tests can validate request bodies
without parsing the YAML. Run again when the specs change:

    python3 tools/extract-merge-schemas.py ../shared/specs/merge-ticketing-openapi.yaml \
        ../shared/specs/merge-crm-openapi.yaml > tests/fixtures/merge/schemas.json

Schema names repeat across the two documents (both have `RemoteFieldRequest`, for example),
so each name is looked up in the document listed for it.
"""
import json
import sys

import yaml

# Document index (0 = ticketing, 1 = crm) → schema names.
NAMES = {
    0: ["PatchedTicketEndpointRequest", "CommentEndpointRequest"],
    1: ["NoteEndpointRequest"],
}


def main():
    specs = [yaml.safe_load(open(path)) for path in sys.argv[1:3]]
    out = {}
    for index, names in NAMES.items():
        schemas = specs[index]["components"]["schemas"]

        def resolve(node, seen):
            if isinstance(node, dict):
                if "$ref" in node:
                    name = node["$ref"].rsplit("/", 1)[-1]
                    if name in seen:  # recursive schema: stop inlining
                        return {}
                    target = resolve(schemas[name], seen | {name})
                    # OpenAPI 3.1 allows siblings next to $ref: keep them over the target's.
                    siblings = {k: resolve(v, seen) for k, v in node.items() if k != "$ref"}
                    return {**target, **siblings}
                # Descriptions embed MDX and per-integration tables; they only bloat the file.
                return {k: resolve(v, seen) for k, v in node.items()
                        if not (k == "description" and isinstance(v, str))}
            if isinstance(node, list):
                return [resolve(v, seen) for v in node]
            return node

        for name in names:
            if name in schemas:
                out[name] = resolve(schemas[name], {name})
            else:
                print(f"warning: {name} not in spec {index}", file=sys.stderr)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
