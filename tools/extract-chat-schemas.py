#!/usr/bin/env python3
"""Extracts the request (and response) schemas of the chat and Notion APIs that Klaxon's chat
destinations call into self-contained JSON Schema files, so Rust tests can validate what is
sent without parsing the official descriptions. Run again when a description changes:

    python3 tools/extract-chat-schemas.py slack ../shared/specs/slack-web-openapi-v2.json \
        > tests/fixtures/slack/schemas.json
    python3 tools/extract-chat-schemas.py discord ../shared/specs/discord-openapi.json \
        > tests/fixtures/discord/schemas.json
    python3 tools/extract-chat-schemas.py telegram ../shared/specs/telegram-bot-api.json \
        > tests/fixtures/telegram/schemas.json
    python3 tools/extract-chat-schemas.py notion ../shared/specs/notion \
        > tests/fixtures/notion/schemas.json

What each source gives, and what had to be added by hand (each addition is listed in the
output's `x-hand-written` note of the schema it changes):

- Slack publishes a Swagger 2.0 document whose `chat.postMessage` parameters are form fields:
  every value a string, `blocks` and `attachments` JSON-encoded inside it. A JSON body carries
  the same fields as JSON values, so the form parameters become the properties of an object,
  `blocks` the document's own `blocks` definition (an array of `{type, …}`), `attachments` an
  array of objects, and the boolean-valued `as_user` a boolean. Incoming webhooks take the
  same body without `channel`.
- Discord publishes OpenAPI 3.1, whose schemas are JSON Schema already: `$ref`s are inlined.
- Telegram publishes no machine-readable description; telegram-bot-api.json is scraped from the
  Bot API page and lists each method's fields with Telegram's type names, which are translated
  to JSON Schema (`Integer` → integer, `Array of X` → array, an object type → its fields,
  a type with subtypes → `anyOf`), object types going into `$defs` (Message is recursive).
  `parse_mode`'s values come from the page's "Formatting options" prose.
- Notion publishes only the TypeScript types of its SDK. CreatePageParameters (pages.ts) is
  translated to JSON Schema by hand, below, for the parent kinds and property types Klaxon
  writes and a subset of block types; the script checks that pages.ts and common.ts still
  declare every translated member, so a change upstream is noticed when the fixture is
  refreshed.
"""
import copy
import json
import os
import re
import sys


def inline_refs(root, prefix):
    """A resolver that inlines every `$ref` under `prefix` (`#/definitions/`), stopping at
    recursion with an empty schema."""
    def resolve(node, seen):
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"][len(prefix):]
                if name in seen:
                    return {}
                target = resolve(root[name], seen | {name})
                siblings = {k: resolve(v, seen) for k, v in node.items() if k != "$ref"}
                return {**target, **siblings}
            return {k: resolve(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v, seen) for v in node]
        return node
    return lambda node, seen: strip_descriptions(resolve(node, seen))


def strip_descriptions(node, names=False):
    """Without the `description` annotations (prose, often long), keeping properties that
    happen to be called `description` (`names`: `node` maps property names to schemas)."""
    if isinstance(node, dict):
        return {
            k: strip_descriptions(v, k == "properties" and not names)
            for k, v in node.items()
            if names or k != "description"
        }
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def with_defs(schema, defs):
    """`schema` with the definitions it reaches (through `#/$defs/…` references) attached as
    its `$defs`, so it validates on its own; shared and recursive types stay references."""
    reached, pending = {}, [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/") and ref[8:] not in reached:
                reached[ref[8:]] = defs[ref[8:]]
                pending.append(defs[ref[8:]])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return {**schema, "$defs": dict(sorted(reached.items()))} if reached else schema


# --- Slack ---------------------------------------------------------------------------------

def tuple_items_to_any_of(node):
    """Slack's document writes "one of these" as a draft-4 tuple, `items: [a, b]`, on values
    that are not arrays (`bot_id`: a bot ID or null); JSON Schema 2020-12 no longer allows an
    array there, so it becomes the `anyOf` it means."""
    if isinstance(node, dict):
        out = {k: tuple_items_to_any_of(v) for k, v in node.items()}
        if isinstance(out.get("items"), list):
            out["anyOf"] = out.pop("items")
        return out
    if isinstance(node, list):
        return [tuple_items_to_any_of(v) for v in node]
    return node


SLACK_FORM_TYPES = {"string": {"type": "string"}, "boolean": {"type": "boolean"}}


def slack(path):
    spec = json.load(open(path))
    resolve = inline_refs(spec["definitions"], "#/definitions/")
    post = spec["paths"]["/chat.postMessage"]["post"]
    properties, required, notes = {}, [], []
    for parameter in post["parameters"]:
        if parameter["in"] != "formData":
            continue  # `token` travels as `Authorization: Bearer` with a JSON body
        name = parameter["name"]
        if name == "blocks":
            schema = resolve({"$ref": "#/definitions/blocks"}, set())
            notes.append("blocks: the form's JSON-encoded string is the `blocks` definition")
        elif name == "attachments":
            schema = {"type": "array", "items": {"type": "object"}}
            notes.append("attachments: the form's JSON-encoded string is an array of objects")
        elif name == "as_user":
            schema = {"type": "boolean"}
            notes.append("as_user: described as a form string holding true/false")
        else:
            schema = dict(SLACK_FORM_TYPES[parameter["type"]])
        properties[name] = schema
        if parameter.get("required"):
            required.append(name)
    request = {
        "type": "object",
        "properties": properties,
        "required": required,
        "x-hand-written": notes,
    }
    webhook = copy.deepcopy(request)
    del webhook["properties"]["channel"]
    webhook["required"] = [r for r in required if r != "channel"]
    webhook["x-hand-written"] = notes + [
        "incoming webhooks take chat.postMessage's body without `channel`"
    ]
    responses = post["responses"]
    return {
        "ChatPostMessageRequest": request,
        "IncomingWebhookRequest": webhook,
        "ChatPostMessageResponse": tuple_items_to_any_of(
            resolve(responses["200"]["schema"], set())
        ),
        "ChatPostMessageError": tuple_items_to_any_of(
            resolve(responses["default"]["schema"], set())
        ),
    }


# --- Discord -------------------------------------------------------------------------------

DISCORD_NAMES = {
    "ExecuteWebhookRequest": "IncomingWebhookRequestPartial",
    "RichEmbed": "RichEmbed",
    "MessageAllowedMentionsRequest": "MessageAllowedMentionsRequest",
    "MessageResponse": "MessageResponse",
    "ErrorResponse": "ErrorResponse",
    "RatelimitedResponse": "RatelimitedResponse",
}


def discord(path):
    spec = json.load(open(path))
    schemas = spec["components"]["schemas"]
    body = spec["paths"]["/webhooks/{webhook_id}/{webhook_token}"]["post"]["requestBody"]
    union = body["content"]["application/json"]["schema"]["anyOf"]
    # The execute body is `IncomingWebhookRequestPartial | IncomingWebhookUpdateRequestPartial`;
    # the second is the edit-message body, which a new message never is.
    assert {"$ref": "#/components/schemas/IncomingWebhookRequestPartial"} in union
    # Component schemas become `$defs` (MessageResponse alone would be half a megabyte with
    # every reference inlined).
    text = json.dumps(strip_descriptions(schemas)).replace("#/components/schemas/", "#/$defs/")
    defs = json.loads(text)
    return {out: with_defs(defs[name], defs) for out, name in DISCORD_NAMES.items()}


# --- Telegram ------------------------------------------------------------------------------

TELEGRAM_SCALARS = {
    "Integer": {"type": "integer"},
    "String": {"type": "string"},
    "Boolean": {"type": "boolean"},
    "Float": {"type": "number"},
    "True": {"const": True},
    # Uploads are multipart; in a JSON body a file is a file_id or URL string.
    "InputFile": {"type": "string"},
}

TELEGRAM_HAND_WRITTEN = {
    ("sendMessage", "parse_mode"): (
        {"enum": ["HTML", "MarkdownV2", "Markdown"]},
        "parse_mode: the values of the Formatting options section",
    ),
    ("sendMessage", "text"): (
        {"minLength": 1},
        "text: 1-4096 characters after entity parsing, so only the minimum is checkable",
    ),
}


def telegram(path):
    spec = json.load(open(path))
    types = spec["types"]
    defs = {}

    def type_schema(name):
        if name.startswith("Array of "):
            return {"type": "array", "items": type_schema(name[len("Array of "):])}
        if name in TELEGRAM_SCALARS:
            return dict(TELEGRAM_SCALARS[name])
        if name not in defs:
            defs[name] = {}  # reserved first: types refer to each other
            declared = types[name]
            if "subtypes" in declared:
                defs[name] = {"anyOf": [type_schema(s) for s in declared["subtypes"]]}
            else:
                defs[name] = fields_schema(name, declared.get("fields", []))
        return {"$ref": f"#/$defs/{name}"}

    def fields_schema(owner, fields):
        properties, required, notes = {}, [], []
        for field in fields:
            options = [type_schema(t) for t in field["types"]]
            schema = options[0] if len(options) == 1 else {"anyOf": options}
            extra = TELEGRAM_HAND_WRITTEN.get((owner, field["name"]))
            if extra:
                schema = {**schema, **extra[0]}
                notes.append(extra[1])
            properties[field["name"]] = schema
            if field["required"]:
                required.append(field["name"])
        schema = {"type": "object", "properties": properties, "required": required}
        if notes:
            schema["x-hand-written"] = notes
        return schema

    send_message = fields_schema("sendMessage", spec["methods"]["sendMessage"]["fields"])
    message = type_schema("Message")
    parameters = type_schema("ResponseParameters")
    out = {
        "sendMessage": send_message,
        "Message": message,
        # The envelope of every answer (Bot API, "Making requests").
        "SendMessageResponse": {
            "type": "object",
            "properties": {"ok": {"const": True}, "result": message},
            "required": ["ok", "result"],
            "x-hand-written": ["the answer envelope is described in prose"],
        },
        "ErrorResponse": {
            "type": "object",
            "properties": {
                "ok": {"const": False},
                "error_code": {"type": "integer"},
                "description": {"type": "string"},
                "parameters": parameters,
            },
            "required": ["ok", "error_code", "description"],
            "x-hand-written": ["the answer envelope is described in prose"],
        },
    }
    return {name: with_defs(schema, defs) for name, schema in out.items()}


# --- Notion --------------------------------------------------------------------------------

def notion_languages(directory):
    """`LanguageRequest` in common.ts: the code block languages."""
    text = open(os.path.join(directory, "common.ts")).read()
    block = re.search(r"export type LanguageRequest =((?:\s*\|\s*\"[^\"]*\")+)", text)
    return re.findall(r'"([^"]*)"', block.group(1))


def notion_schemas(languages):
    """CreatePageParameters (pages.ts, API version 2025-09-03), hand-translated. Each union
    member is closed (`additionalProperties: false`): in TypeScript an object literal with
    extra keys does not type-check either."""
    def closed(properties, required=()):
        return {
            "type": "object",
            "properties": properties,
            "required": list(required),
            "additionalProperties": False,
        }

    id_request = {"type": "string", "minLength": 1}
    api_color = {"enum": [
        "default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink",
        "red", "default_background", "gray_background", "brown_background",
        "orange_background", "yellow_background", "green_background", "blue_background",
        "purple_background", "pink_background", "red_background",
    ]}
    select_color = {"enum": [
        "default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red",
    ]}
    annotations = closed({
        "bold": {"type": "boolean"}, "italic": {"type": "boolean"},
        "strikethrough": {"type": "boolean"}, "underline": {"type": "boolean"},
        "code": {"type": "boolean"}, "color": api_color,
    })
    # RichTextItemRequest = RichTextItemRequestCommon & (Text | Mention | Equation); the
    # intersection is written out into each member. Mentions are not translated.
    # Limits from the request-limits page: text.content and link.url ≤ 2000 characters,
    # equation.expression ≤ 1000, any rich text array ≤ 100 items.
    rich_text_item = {"anyOf": [
        closed({
            "type": {"const": "text"},
            "text": closed({
                "content": {"type": "string", "maxLength": 2000},
                "link": {"anyOf": [
                    {"type": "null"},
                    closed({"url": {"type": "string", "maxLength": 2000}}, ["url"]),
                ]},
            }, ["content"]),
            "annotations": annotations,
        }, ["text"]),
        closed({
            "type": {"const": "equation"},
            "equation": closed({"expression": {"type": "string", "maxLength": 1000}},
                               ["expression"]),
            "annotations": annotations,
        }, ["equation"]),
    ]}
    defs = {
        "RichTextItemRequest": rich_text_item,
        "RichText": {"type": "array", "items": {"$ref": "#/$defs/RichTextItemRequest"},
                     "maxItems": 100},
    }
    rich_text = {"$ref": "#/$defs/RichText"}
    option_fields = {
        "id": {"type": "string"}, "name": {"type": "string", "maxLength": 100},
        "color": select_color, "description": {"type": ["string", "null"]},
    }
    defs["SelectOption"] = {"anyOf": [closed(option_fields, ["id"]), closed(option_fields, ["name"])]}
    option = {"$ref": "#/$defs/SelectOption"}
    date = closed({
        "start": {"type": "string"},
        "end": {"type": ["string", "null"]},
        "time_zone": {"type": ["string", "null"]},
    }, ["start"])

    def prop(kind, value):
        return closed({kind: value, "type": {"const": kind}}, [kind])

    property_value = {"anyOf": [
        prop("title", rich_text),
        prop("rich_text", rich_text),
        prop("number", {"type": ["number", "null"]}),
        prop("url", {"type": ["string", "null"], "maxLength": 2000}),
        prop("select", {"anyOf": [{"type": "null"}, option]}),
        prop("multi_select", {"type": "array", "items": option, "maxItems": 100}),
        prop("status", {"anyOf": [{"type": "null"}, option]}),
        prop("email", {"type": ["string", "null"], "maxLength": 200}),
        prop("phone_number", {"type": ["string", "null"], "maxLength": 200}),
        prop("date", {"anyOf": [{"type": "null"}, date]}),
        prop("checkbox", {"type": "boolean"}),
    ]}
    parent = {"anyOf": [
        closed({"page_id": id_request, "type": {"const": "page_id"}}, ["page_id"]),
        closed({"database_id": id_request, "type": {"const": "database_id"}}, ["database_id"]),
        closed({"data_source_id": id_request, "type": {"const": "data_source_id"}},
               ["data_source_id"]),
        closed({"workspace": {"const": True}, "type": {"const": "workspace"}}, ["workspace"]),
    ]}
    emoji_icon = closed({"type": {"const": "emoji"}, "emoji": {"type": "string"}}, ["emoji"])
    external = closed({"url": {"type": "string", "maxLength": 2000}}, ["url"])
    external_file = closed({"type": {"const": "external"}, "external": external}, ["external"])

    def text_block(kind, extra=None):
        content = {"rich_text": rich_text, "color": api_color, **(extra or {})}
        return closed({
            kind: closed(content, ["rich_text"]),
            "type": {"const": kind},
            "object": {"const": "block"},
        }, [kind])

    blocks = {"type": "array", "maxItems": 100, "items": {"anyOf": [
        text_block("paragraph"),
        text_block("heading_1", {"is_toggleable": {"type": "boolean"}}),
        text_block("heading_2", {"is_toggleable": {"type": "boolean"}}),
        text_block("heading_3", {"is_toggleable": {"type": "boolean"}}),
        text_block("bulleted_list_item"),
        text_block("numbered_list_item"),
        text_block("quote"),
        text_block("to_do", {"checked": {"type": "boolean"}}),
        text_block("callout", {"icon": emoji_icon}),
        closed({
            "divider": closed({}),
            "type": {"const": "divider"},
            "object": {"const": "block"},
        }, ["divider"]),
        closed({
            "code": closed({
                "rich_text": rich_text,
                "language": {"enum": languages},
                "caption": rich_text,
            }, ["rich_text", "language"]),
            "type": {"const": "code"},
            "object": {"const": "block"},
        }, ["code"]),
    ]}}
    create_page = closed({
        "parent": parent,
        "properties": {"type": "object", "additionalProperties": property_value},
        "icon": {"anyOf": [{"type": "null"}, emoji_icon, external_file]},
        "cover": {"anyOf": [{"type": "null"}, external_file]},
        "children": blocks,
        "content": blocks,
        "markdown": {"type": "string"},
    })
    create_page["x-hand-written"] = [
        "translated by hand from pages.ts CreatePageBodyParameters (API 2025-09-03)",
        "property values: title, rich_text, number, url, select, multi_select, status, "
        "email, phone_number, date, checkbox (people, relation, files, place, verification "
        "are not translated)",
        "rich text: text and equation items (mentions are not translated)",
        "blocks: paragraph, heading_1-3, bulleted/numbered_list_item, quote, to_do, callout, "
        "divider, code (nested children are not translated)",
        "not translated: template, position, allow_async, filter_properties",
        "limits from the Request limits page, not from the types",
    ]
    error = {
        "type": "object",
        "properties": {
            "object": {"const": "error"},
            "status": {"type": "integer"},
            "code": {"enum": [
                "invalid_json", "invalid_request_url", "invalid_request", "invalid_grant",
                "validation_error", "missing_version", "unauthorized", "restricted_resource",
                "object_not_found", "conflict_error", "rate_limited", "internal_server_error",
                "service_unavailable", "database_connection_unavailable", "gateway_timeout",
            ]},
            "message": {"type": "string"},
            "request_id": {"type": "string"},
            "additional_data": {"type": "object"},
        },
        "required": ["object", "status", "code", "message"],
        "x-hand-written": ["from the Status codes page; the SDK's APIErrorCode lists the codes"],
    }
    return {
        "CreatePageParameters": with_defs(create_page, defs),
        "ErrorResponse": error,
    }


# Fragments of the TypeScript that the hand translation relies on. If one disappears, the
# translation above is out of date.
NOTION_DECLARATIONS = {
    "pages.ts": [
        "type CreatePageBodyParameters = {",
        "{ database_id: IdRequest; type?: \"database_id\" }",
        "{ data_source_id: IdRequest; type?: \"data_source_id\" }",
        "{ title: Array<RichTextItemRequest>; type?: \"title\" }",
        "{ rich_text: Array<RichTextItemRequest>; type?: \"rich_text\" }",
        "{ number: number | null; type?: \"number\" }",
        "{ url: TextRequest | null; type?: \"url\" }",
        "{ date: DateRequest | null; type?: \"date\" }",
        "{ checkbox: boolean; type?: \"checkbox\" }",
        "{ email: StringRequest | null; type?: \"email\" }",
        "{ phone_number: StringRequest | null; type?: \"phone_number\" }",
        "multi_select: Array<",
        "type?: \"select\"",
        "type?: \"status\"",
        "children?: Array<BlockObjectRequest>",
        "content?: Array<BlockObjectRequest>",
        "markdown?: string",
    ],
    "common.ts": [
        "export type RichTextItemRequest = RichTextItemRequestCommon &",
        "type TextRichTextItemRequest = {",
        "type EquationRichTextItemRequest = {",
        "export type DateRequest = {",
        "export type SelectColor =",
        "export type ApiColor =",
        "type AnnotationRequest = {",
    ],
}


def notion(directory):
    for file, fragments in NOTION_DECLARATIONS.items():
        text = re.sub(r"\s+", " ", open(os.path.join(directory, file)).read())
        for fragment in fragments:
            if re.sub(r"\s+", " ", fragment) not in text:
                sys.exit(f"{file} no longer declares `{fragment}`: update the translation")
    return notion_schemas(notion_languages(directory))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    service, path = sys.argv[1], sys.argv[2]
    extract = {"slack": slack, "discord": discord, "telegram": telegram, "notion": notion}
    if service not in extract:
        sys.exit(f"unknown service {service}: one of {', '.join(extract)}")
    json.dump(extract[service](path), sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
