#!/usr/bin/env python3
"""Extracts the Telnyx Call Control and Messaging schemas Klaxon uses from the official OpenAPI document into
one self-contained JSON file (every $ref inlined), so Rust tests can validate requests and
webhooks without parsing a 4 MB YAML file. Run again when the spec changes:

    python3 tools/extract-telnyx-schemas.py ../shared/specs/telnyx-openapi.yml \
        > tests/fixtures/telnyx/schemas.json
"""
import json
import sys

import yaml

NAMES = [
    "CallRequest", "GatherUsingSpeakRequest", "GatherRequest", "GatherUsingAIRequest",
    "TranscriptionStartRequest", "SpeakRequest", "TransferCallRequest", "BridgeRequest",
    "HangupRequest", "ClientStateUpdateRequest",
    "CallInitiatedEvent", "CallAnsweredEvent", "CallGatherEndedEvent", "CallDtmfReceivedEvent",
    "CallSpeakStartedEvent", "CallSpeakEndedEvent", "CallBridgedEvent", "CallHangupEvent",
    "CallMachineDetectionEndedEvent", "CallAIGatherEndedEvent", "TranscriptionEvent",
    # Messaging (docs/sms.md): the request Klaxon sends, the webhooks the sandbox sends back.
    "CreateMessageRequest", "OutboundMessageEvent", "InboundMessageEvent",
    # Calls to Klaxon's number (live call routing).
    "AnswerRequest", "StartRecordingRequest", "CallRecordingSavedEvent",
    "callRecordingTranscriptionSavedEvent",
]


def main():
    spec = yaml.safe_load(open(sys.argv[1]))
    schemas = spec["components"]["schemas"]

    def resolve(node, seen):
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                if name in seen:  # recursive schema: stop inlining
                    return {}
                target = resolve(schemas[name], seen | {name})
                # OpenAPI 3.1 allows siblings next to $ref (`loop` in SpeakRequest has a
                # description): keep them, over the referenced schema's own keys.
                siblings = {k: resolve(v, seen) for k, v in node.items() if k != "$ref"}
                return {**target, **siblings}
            return {k: resolve(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v, seen) for v in node]
        return node

    out = {}
    for name in NAMES:
        if name in schemas:
            out[name] = resolve(schemas[name], {name})
        else:
            print(f"warning: {name} not in the spec", file=sys.stderr)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
