#!/usr/bin/python3
"""es_standin.py - an Elasticsearch 8 stand-in for fieldgate's tests.

No Elasticsearch can run on the test machines, so the integration tests talk
to this process instead: Python 3 stdlib only, threaded HTTP/1.1 with
keep-alive, faithful to the documented ES 8 REST API for the calls the
forwarder makes (status codes, error JSON shapes and reason wording), with
fault injection through a control endpoint that Elasticsearch would never
serve (/_standin/...).

Usage:
  es_standin.py [--port N] [--port-file FILE] [--data-dir DIR]
                [--user USER:PASS] [--api-key KEY]
                [--tls-cert FILE --tls-key FILE] [--max-body-bytes N]
                [--no-validate] [--discard] [--version 8.15.0] [--verbose]

  --port N           listen on 127.0.0.1:N (default 0: a free port)
  --port-file FILE   write the port there once listening (atomically)
  --data-dir DIR     keep documents, indices and templates in DIR (append-only
                     docs.log, templates.json): a kill -9 and a restart with
                     the same DIR keeps everything that was acknowledged,
                     as a restarted Elasticsearch does. Counters and faults
                     are not kept.
  --user U:P         require HTTP basic auth (401 security_exception otherwise)
  --api-key KEY      accept "Authorization: ApiKey KEY" (KEY compared verbatim)
  --tls-cert/--tls-key  serve HTTPS
  --max-body-bytes N 413 above N bytes (ES http.max_content_length, 100mb)
  --no-validate      do not check documents against the index mappings
  --discard          answer index/create items as stored (201) but keep nothing:
                     constant memory for long soak runs; no 409s, no documents
                     to read back (docs_stored still counts them)

Its own ceiling (tests/peers/es_bench_client.py: 1,000-document bulks of
~620-byte SPEC section 4 events over one keep-alive connection, 2-core
machine): about 35,000 docs/s into an index whose template mappings are
checked, 75,000-100,000 docs/s unchecked (--no-validate or no template).

Elasticsearch API served (every response has Content-Length and
X-elastic-product: Elasticsearch; documents are visible to _count/_search at
once, as if every request had refresh=true):
  GET|HEAD /                         cluster info (version.number 8.x)
  GET /_cluster/health               green
  PUT|GET|HEAD|DELETE /_index_template/NAME   (GET /_index_template: all)
  POST|PUT /_bulk, /{index}/_bulk    create, index, delete (update: item 400)
  GET /{index}/_doc/{id}             found true/false (404)
  GET|POST /{index}/_count           ?q=field:value or {"query":{"term"|"match"|"match_all"}}
  GET|POST /{index}/_search          same queries, ?size=N / "size" (default 10)
  GET /{index}/_mapping              the mapping the index got from its template
  DELETE /{index}                    drop an index
  ?filter_path=... is honoured on every JSON response.
Documents are checked against the mappings their index got from the matching
index template (highest priority) when it was created: numbers, dates,
booleans, geo_point, keyword, objects; "dynamic": "strict" rejects unknown
fields (strict_dynamic_mapping_exception), false/true accept them and name
them in the counters' "unmapped_fields".

Control endpoint (no auth, never delayed or failed by the faults):
  GET    /_standin/faults   {"faults": {...}, "counters": {...}, "indices": {name: doc count}}
  POST   /_standin/faults   JSON object merged into the faults (a key set to
                            null is removed); answers like GET
  DELETE /_standin/faults   clear every fault and zero the counters (documents stay)
  GET    /_standin/ids/INDEX     {"index": I, "count": N, "ids": [sorted _ids]}
                                 (?format=lines: one _id per line)
  GET    /_standin/docs/INDEX    NDJSON, one {"_id": .., "_source": ..} per
                                 document in the order they were stored
  DELETE /_standin/docs          drop every index (templates stay)

Faults (POST /_standin/faults), any combination:
  "item_429_fraction": 0.3   that fraction of bulk items fail with 429
                             es_rejected_execution_exception (not stored)
  "item_429_seed": 7         seed for the choice (default 1; re-seeded on set)
  "item_429_count": N        stop after N items were rejected this way
  "request_status": 429|503|... with "request_status_count": N (default 1):
                             the next N requests answer that status with ES's
                             error JSON, storing nothing; "request_status_scope":
                             "bulk" (default: only _bulk requests count) or "all"
                             (every API request, GET / and templates too);
                             "retry_after": S adds a Retry-After: S header;
                             "request_body": TEXT answers TEXT verbatim instead
                             of the error JSON ("request_status": 200 with
                             "request_body": "" is an empty 200, as from a proxy)
  "max_body_bytes": N        413 (empty body, Connection: close, like ES's
                             Netty layer) for a request body above N bytes
  "mapping_error": {"field": "prediction.status", "value": 2, "type": T}
                             documents whose field equals value (any document
                             that has the field when "value" is absent) fail
                             with 400 document_parsing_exception (T overrides
                             the type, e.g. mapper_parsing_exception); a list
                             of such objects is allowed
  "delay_ms": N              each _bulk request is applied (documents stored),
                             then the answer waits N ms, as from a slow
                             cluster: a client that times out and retries
                             meets 409s; "delay_count": N limits it to the
                             next N _bulk requests
  "drop_after_store": N      the next N _bulk requests store their documents,
                             then the connection is closed with no response
                             (the client's retry meets 409s)
  "validate": false          stop checking documents against the mappings

Counters: requests, bulk_requests, bulk_items, max_bulk_items, max_bulk_bytes,
items_by_status {"201": n, "409": n, ...}, docs_stored, duplicate_creates,
dropped_connections, rejected_requests {"429": n, "413": n, ...},
template_puts, auth_failures, unmapped_fields [...], last_bulk_headers
{content-type, content-encoding, user-agent, authorization-scheme}.
"""

import argparse
import base64
import fnmatch
import gzip
import json
import os
import random
import re
import signal
import socket
import ssl
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

ENC = json.encoder.encode_basestring_ascii  # str -> JSON string literal (C)
NUMERIC = {"byte": (-128, 127), "short": (-32768, 32767),
           "integer": (-2**31, 2**31 - 1), "long": (-2**63, 2**63 - 1),
           "unsigned_long": (0, 2**64 - 1)}
FLOATS = {"float", "double", "half_float", "scaled_float"}
KNOWN_TYPES = (set(NUMERIC) | FLOATS | {
    "keyword", "text", "date", "date_nanos", "boolean", "geo_point",
    "geo_shape", "object", "nested", "ip", "flattened", "wildcard",
    "constant_keyword", "match_only_text", "binary", "alias", "version",
    "dense_vector", "integer_range", "float_range", "long_range",
    "double_range", "date_range", "ip_range", "histogram", "point", "shape"})
DATE_RE = re.compile(r"^[+-]?\d{4,9}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}([.,]\d{1,9})?)?)?"
                     r"(Z|[+-]\d{2}(:?\d{2})?)?)?)?)?$")
TEMPLATE_KEYS = {"index_patterns", "template", "composed_of", "priority",
                 "version", "_meta", "data_stream", "allow_auto_create",
                 "ignore_missing_component_templates", "deprecated"}
REASON_PHRASES = {200: "OK", 201: "Created", 400: "Bad Request",
                  401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
                  406: "Not Acceptable", 409: "Conflict",
                  413: "Request Entity Too Large", 429: "Too Many Requests",
                  500: "Internal Server Error", 502: "Bad Gateway",
                  503: "Service Unavailable", 504: "Gateway Timeout"}
REQUEST_ERRORS = {
    429: ("es_rejected_execution_exception",
          "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, "
          "replica_bytes=0, all_bytes=0, coordinating_operation_bytes=%d, "
          "max_coordinating_and_primary_bytes=107374182]"),
    503: ("cluster_block_exception",
          "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"),
    500: ("exception", "stand-in injected internal error"),
}
MISSING = object()


def es_error(status, etype, reason, **extra):
    """ES's error body: the cause, repeated as root_cause, and the status."""
    cause = {"type": etype, "reason": reason}
    cause.update(extra)
    body = {"root_cause": [dict(cause)]}
    body.update(cause)
    return {"error": body, "status": status}


def new_uuid():
    return base64.urlsafe_b64encode(os.urandom(15)).decode().rstrip("=")


def get_path(doc, path):
    """doc's value at a dotted path (nested objects or a literal dotted key)."""
    if path in doc:
        return doc[path]
    cur = doc
    parts = path.split(".")
    for i, p in enumerate(parts):
        if not isinstance(cur, dict):
            return MISSING
        if p in cur:
            cur = cur[p]
            continue
        rest = ".".join(parts[i:])
        return cur.get(rest, MISSING)
    return cur


def same_value(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return str(a) == str(b) if not isinstance(a, (dict, list)) else a == b


def flatten_props(props, prefix=""):
    """{"a.b": mapping} for every leaf field of a mapping's properties."""
    out = {}
    for name, m in (props or {}).items():
        full = prefix + name
        if "properties" in m and m.get("type") in (None, "object", "nested"):
            out[full] = dict(m, type=m.get("type", "object"))
            out.update(flatten_props(m["properties"], full + "."))
        else:
            out[full] = m
    return out


def normalize_settings(settings):
    """ES returns settings nested under "index" with string values."""
    flat = {}

    def walk(o, pre):
        for k, v in o.items():
            if isinstance(v, dict):
                walk(v, pre + k + ".")
            else:
                flat[pre + k] = v
    walk(settings or {}, "")
    out = {}
    for k, v in flat.items():
        if not k.startswith("index."):
            k = "index." + k
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, list):
            v = [str(x) for x in v]
        else:
            v = str(v)
        cur = out
        parts = k.split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = v
    return out


def check_mappings(mappings, where="mappings"):
    """None or an ES-style reason why a template's mappings would be refused."""
    if not isinstance(mappings, dict):
        return "Failed to parse mapping: %s must be an object" % where
    dyn = mappings.get("dynamic", True)
    if str(dyn).lower() not in ("true", "false", "strict", "runtime"):
        return ("Failed to parse mapping: Could not convert [dynamic] to boolean")
    for name, m in (mappings.get("properties") or {}).items():
        if not isinstance(m, dict):
            return "Failed to parse mapping: Expected map for property [fields] on field [%s]" % name
        t = m.get("type", "object" if "properties" in m else None)
        if t is None:
            return "Failed to parse mapping: No type specified for field [%s]" % name
        if t not in KNOWN_TYPES:
            return ("Failed to parse mapping: No handler for type [%s] declared on field [%s]"
                    % (t, name))
        if "properties" in m:
            r = check_mappings(m, where + "." + name)
            if r:
                return r
    return None


class FieldError(Exception):
    """A document field the mapping refuses: ES's item error."""

    def __init__(self, etype, reason, caused_by=None):
        super().__init__(reason)
        self.etype = etype          # ES error type
        self.reason = reason        # ES reason text
        self.caused_by = caused_by  # optional {"type", "reason"}


def preview(v):
    s = json.dumps(v, separators=(",", ":")) if isinstance(v, (dict, list)) else \
        ("true" if v is True else "false" if v is False else str(v))
    return s if len(s) <= 80 else s[:80] + "..."


class Validator:
    """Checks a parsed document against an index's mappings, as ES's parser
    would: returns the unmapped field names, raises FieldError."""

    def __init__(self, mappings, parse_type):
        self.props = (mappings or {}).get("properties") or {}      # top-level properties
        self.dynamic = str((mappings or {}).get("dynamic", "true")).lower()  # root dynamic
        self.parse_type = parse_type  # document_parsing_exception or mapper_parsing_exception
        self.compiled = self._compile(self.props)  # quick checks, see _fast

    def check(self, doc, doc_id, raw):
        if self._fast(doc, self.compiled):
            return []
        unmapped = []
        self._obj(doc, self.props, self.dynamic, "", doc_id, raw, unmapped)
        return unmapped

    @staticmethod
    def _compile(props):
        """name -> (kind, arg): a quick per-field test for the common case."""
        out = {}
        for name, m in props.items():
            t = m.get("type", "object" if "properties" in m else None)
            if t in ("object", "nested"):
                out[name] = ("obj", Validator._compile(m.get("properties") or {}))
            elif t in NUMERIC:
                out[name] = ("int", NUMERIC[t])
            elif t in FLOATS:
                out[name] = ("float", None)
            elif t in ("keyword", "constant_keyword", "wildcard", "text", "match_only_text"):
                out[name] = ("str", None)
            elif t in ("date", "date_nanos"):
                out[name] = ("date", None)
            elif t == "boolean":
                out[name] = ("bool", None)
            elif t == "geo_point":
                out[name] = ("geo", None)
            else:
                out[name] = ("slow", None)
        return out

    @staticmethod
    def _fast(obj, compiled):
        """True when every field of obj is mapped and plainly valid; False
        sends the document to the full check (errors, unmapped fields)."""
        for k, v in obj.items():
            c = compiled.get(k)
            if c is None:
                return False
            kind, arg = c
            tv = type(v)
            if kind == "float":
                if not ((tv is float and v - v == 0) or tv is int):
                    return False
            elif kind == "str":
                if tv is not str:
                    return False
            elif kind == "int":
                if tv is not int or not arg[0] <= v <= arg[1]:
                    return False
            elif kind == "date":
                if tv is not str or not DATE_RE.match(v):
                    return False
            elif kind == "bool":
                if tv is not bool:
                    return False
            elif kind == "obj":
                if tv is not dict or not Validator._fast(v, arg):
                    return False
            elif kind == "geo":
                if tv is not dict or len(v) != 2 or Validator._geo(v) is not None:
                    return False
            else:
                return False
        return True

    def _pos(self, raw, name):
        i = raw.find(('"%s"' % name.rsplit(".", 1)[-1]).encode())
        return "[1:%d] " % (i + 2 if i >= 0 else 1)

    def _obj(self, obj, props, dynamic, prefix, doc_id, raw, unmapped):
        for k, v in obj.items():
            full = prefix + k
            m = props.get(k)
            if m is None:
                if dynamic == "strict":
                    raise FieldError("strict_dynamic_mapping_exception",
                                     "%smapping set to strict, dynamic introduction of [%s] within [%s] is not allowed"
                                     % (self._pos(raw, full), k, prefix[:-1] or "_doc"))
                unmapped.append(full)
                continue
            self._field(v, m, dynamic, full, doc_id, raw, unmapped)

    def _field(self, v, m, dynamic, full, doc_id, raw, unmapped):
        if v is None:
            return
        t = m.get("type", "object" if "properties" in m else None)
        if isinstance(v, list) and t != "geo_point":
            for x in v:
                self._field(x, m, dynamic, full, doc_id, raw, unmapped)
            return
        if t in ("object", "nested"):
            if not isinstance(v, dict):
                raise FieldError(self.parse_type,
                                 "%sobject mapping for [%s] tried to parse field [%s] as object, but found a concrete value"
                                 % (self._pos(raw, full), full, full.rsplit(".", 1)[-1]))
            self._obj(v, m.get("properties") or {}, str(m.get("dynamic", dynamic)).lower(),
                      full + ".", doc_id, raw, unmapped)
            return
        err = self._leaf(v, t)
        if err:
            raise FieldError(self.parse_type,
                             "%sfailed to parse field [%s] of type [%s] in document with id '%s'. "
                             "Preview of field's value: '%s'"
                             % (self._pos(raw, full), full, t, doc_id, preview(v)), err)

    @staticmethod
    def _leaf(v, t):
        if t in NUMERIC or t in FLOATS:
            if isinstance(v, bool) or isinstance(v, (dict, list)):
                return {"type": "illegal_argument_exception",
                        "reason": "Current token (%s) not numeric, can not use numeric value accessors"
                        % ("VALUE_TRUE" if v is True else "VALUE_FALSE" if v is False else "START_OBJECT")}
            if isinstance(v, str):
                try:
                    v = float(v)
                except ValueError:
                    return {"type": "number_format_exception",
                            "reason": "For input string: \"%s\"" % v}
            if v != v or v in (float("inf"), float("-inf")):
                return {"type": "illegal_argument_exception",
                        "reason": "[%s] supports only finite values, but got [%s]" % (t, v)}
            if t in NUMERIC:
                lo, hi = NUMERIC[t]
                if not lo <= int(v) <= hi:
                    return {"type": "illegal_argument_exception",
                            "reason": "Value [%s] is out of range for a %s" % (v, t)}
            return None
        if t in ("date", "date_nanos"):
            if isinstance(v, bool) or isinstance(v, (dict, list)) or \
                    (isinstance(v, str) and not DATE_RE.match(v) and not v.lstrip("-").isdigit()):
                return {"type": "illegal_argument_exception",
                        "reason": "failed to parse date field [%s] with format "
                                  "[strict_date_optional_time||epoch_millis]" % preview(v)}
            return None
        if t == "boolean":
            if v is True or v is False or v in ("true", "false", ""):
                return None
            return {"type": "illegal_argument_exception",
                    "reason": "Failed to parse value [%s] as only [true] or [false] are allowed."
                    % preview(v)}
        if t == "geo_point":
            return Validator._geo(v)
        if t in ("keyword", "text", "constant_keyword", "wildcard", "match_only_text"):
            if isinstance(v, (dict, list)):
                return {"type": "illegal_argument_exception",
                        "reason": "Can't get text on a START_OBJECT"}
        return None

    @staticmethod
    def _geo(v):
        def ok(lat, lon):
            if isinstance(lat, bool) or isinstance(lon, bool) or \
                    not isinstance(lat, (int, float)) or not isinstance(lon, (int, float)):
                return {"type": "parse_exception", "reason": "latitude and longitude must be numbers"}
            if not -90 <= lat <= 90:
                return {"type": "illegal_argument_exception",
                        "reason": "illegal latitude value [%s] for geo" % lat}
            if not -180 <= lon <= 180:
                return {"type": "illegal_argument_exception",
                        "reason": "illegal longitude value [%s] for geo" % lon}
            return None
        if isinstance(v, dict):
            if set(v) - {"lat", "lon"} or "lat" not in v or "lon" not in v:
                if v.get("type", "").lower() == "point" and isinstance(v.get("coordinates"), list) \
                        and len(v["coordinates"]) >= 2:
                    return ok(v["coordinates"][1], v["coordinates"][0])
                return {"type": "parse_exception",
                        "reason": "field [lat] or [lon] missing or unknown field in geo_point"}
            return ok(v["lat"], v["lon"])
        if isinstance(v, list):
            if len(v) in (2, 3) and all(isinstance(x, (int, float)) for x in v):
                return ok(v[1], v[0])
            return {"type": "parse_exception", "reason": "geo_point expected"}
        if isinstance(v, str):
            parts = v.split(",")
            if len(parts) == 2:
                try:
                    return ok(float(parts[0]), float(parts[1]))
                except ValueError:
                    pass
            if re.match(r"^[0-9b-hjkmnp-z]{1,12}$", v) or v.upper().startswith("POINT"):
                return None
        return {"type": "parse_exception", "reason": "geo_point expected"}


class Index:
    """One index: documents by _id, in memory, raw source bytes."""

    def __init__(self, name, template, mappings, settings):
        self.name = name                # index name
        self.uuid = new_uuid()          # index_uuid in error bodies
        self.template = template        # name of the template it was created from, or None
        self.mappings = mappings or {}  # mappings at creation
        self.settings = settings or {}  # settings at creation (normalized)
        self.docs = {}                  # _id -> [source bytes, seq_no, version]
        self.seq = 0                    # next _seq_no
        self._validator = None          # cached Validator

    def validator(self, parse_type):
        if self._validator is None:
            self._validator = Validator(self.mappings, parse_type)
        return self._validator


class Store:
    """Indices, templates and their persistence; one lock for everything."""

    def __init__(self, data_dir):
        self.lock = threading.Lock()  # guards every field below and the faults
        self.indices = {}             # name -> Index
        self.templates = {}           # name -> template body as stored
        self.data_dir = data_dir      # persistence directory or None
        self.log = None               # append-only docs.log file
        if data_dir:
            os.makedirs(data_dir, exist_ok=True)
            self._load()
            self.log = open(os.path.join(data_dir, "docs.log"), "ab")

    def _load(self):
        tp = os.path.join(self.data_dir, "templates.json")
        if os.path.exists(tp):
            with open(tp) as f:
                self.templates = json.load(f)
        lp = os.path.join(self.data_dir, "docs.log")
        if not os.path.exists(lp):
            return
        with open(lp, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break  # torn last record from a kill mid-write
                head, _, rest = line[:-1].partition(b"\t")
                try:
                    h = json.loads(head)
                except ValueError:
                    break
                if h[0] == "index":
                    meta = json.loads(rest)
                    self.indices[h[1]] = Index(h[1], meta.get("template"),
                                               meta.get("mappings"), meta.get("settings"))
                elif h[0] == "put":
                    ix = self.indices.get(h[1]) or self._create(h[1], persist=False)
                    old = ix.docs.get(h[2])
                    ix.docs[h[2]] = [rest, ix.seq, old[2] + 1 if old else 1]
                    ix.seq += 1
                elif h[0] == "del":
                    ix = self.indices.get(h[1])
                    if ix:
                        ix.docs.pop(h[2], None)
                        ix.seq += 1
                elif h[0] == "drop":
                    self.indices.pop(h[1], None)

    def save_templates(self):
        if not self.data_dir:
            return
        p = os.path.join(self.data_dir, "templates.json")
        with open(p + ".tmp", "w") as f:
            json.dump(self.templates, f)
        os.replace(p + ".tmp", p)

    def append(self, records):
        if self.log and records:
            self.log.write(b"".join(records))
            self.log.flush()

    def matching_template(self, name):
        best = None
        for tname, t in self.templates.items():
            pats = t.get("index_patterns") or []
            if any(fnmatch.fnmatchcase(name, p) for p in pats):
                if best is None or t.get("priority", 0) > best[1].get("priority", 0):
                    best = (tname, t)
        return best

    def _create(self, name, persist=True):
        m = self.matching_template(name)
        tmpl = (m[1].get("template") or {}) if m else {}
        ix = Index(name, m[0] if m else None, tmpl.get("mappings"),
                   normalize_settings(tmpl.get("settings")))
        self.indices[name] = ix
        if persist:
            self.append([json.dumps(["index", name]).encode() + b"\t" +
                         json.dumps({"template": ix.template, "mappings": ix.mappings,
                                     "settings": ix.settings}).encode() + b"\n"])
        return ix

    def index(self, name):
        return self.indices.get(name) or self._create(name)

    def resolve(self, expr):
        """Index names for an index expression (comma list, wildcards);
        None and the missing name when a concrete index does not exist."""
        names = []
        for part in expr.split(","):
            if part in ("_all", "*"):
                names.extend(self.indices)
            elif "*" in part or "?" in part:
                names.extend(n for n in self.indices if fnmatch.fnmatchcase(n, part))
            elif part in self.indices:
                names.append(part)
            else:
                return None, part
        return sorted(set(names)), None


class Server(ThreadingHTTPServer):
    """The stand-in: store, faults and counters shared by handler threads."""
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr, args):
        super().__init__(addr, Handler)
        self.args = args                   # parsed command line
        self.store = Store(args.data_dir)  # documents and templates
        self.faults = {}                   # current faults (see the docstring)
        self.rng = random.Random(1)        # for item_429_fraction
        self.counters = self.zero_counters()  # see the docstring
        self.cluster_uuid = new_uuid()     # for GET /
        self.tls = None                    # ssl.SSLContext when serving HTTPS
        if args.tls_cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(args.tls_cert, args.tls_key)

    @staticmethod
    def zero_counters():
        return {"requests": 0, "bulk_requests": 0, "bulk_items": 0,
                "max_bulk_items": 0, "max_bulk_bytes": 0, "items_by_status": {},
                "docs_stored": 0, "duplicate_creates": 0, "dropped_connections": 0,
                "rejected_requests": {}, "template_puts": 0, "auth_failures": 0,
                "unmapped_fields": [], "last_bulk_headers": {}}

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, on the connection's own thread, so a
        # client that never completes it cannot stall the accept loop.
        if self.tls:
            try:
                request.settimeout(10)
                request = self.tls.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (OSError, ssl.SSLError):
                return
            try:
                self.RequestHandlerClass(request, client_address, self)
            finally:
                try:
                    request.close()
                except OSError:
                    pass
            return
        self.RequestHandlerClass(request, client_address, self)

    def bump(self, key, sub=None, n=1):
        c = self.counters
        if sub is None:
            c[key] += n
        else:
            c[key][sub] = c[key].get(sub, 0) + n


def apply_filter_path(obj, spec):
    pats = [p.split(".") for p in spec.split(",") if p and not p.startswith("-")]
    if not pats:
        return obj

    def f(o, ps):
        if any(len(p) == 0 for p in ps):
            return o
        if isinstance(o, list):
            out = [x for x in (f(x, ps) for x in o) if x is not MISSING]
            return out if out else MISSING
        if not isinstance(o, dict):
            return MISSING
        res = {}
        for k, v in o.items():
            sub = []
            for p in ps:
                if p[0] == "**":
                    sub.append(p)
                    if len(p) > 1 and fnmatch.fnmatchcase(k, p[1]):
                        sub.append(p[2:])
                elif fnmatch.fnmatchcase(k, p[0]):
                    sub.append(p[1:])
            if sub:
                r = f(v, sub)
                if r is not MISSING:
                    res[k] = r
        return res if res else MISSING
    r = f(obj, pats)
    return {} if r is MISSING else r


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "es-standin"
    sys_version = ""

    # ---- plumbing -------------------------------------------------------

    def log_message(self, fmt, *a):
        if self.server.args.verbose:
            sys.stderr.write("es-standin: %s %s\n" % (self.address_string(), fmt % a))

    def max_body(self):
        f = self.server.faults.get("max_body_bytes")
        return f if f is not None else self.server.args.max_body_bytes

    def handle_expect_100(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > self.max_body() and not urlsplit(self.path).path.startswith("/_standin"):
            with self.server.store.lock:
                self.server.bump("requests")
                self.server.bump("rejected_requests", "413")
            self.send(413, b"", close=True)
            return False
        return super().handle_expect_100()

    def send(self, status, body, ctype="application/json", headers=(), close=False):
        if isinstance(body, (dict, list)):
            q = getattr(self, "query", {})
            if "filter_path" in q and isinstance(body, dict):
                body = apply_filter_path(body, q["filter_path"][0])
            body = json.dumps(body, indent=2 if "pretty" in q else None,
                              separators=None if "pretty" in q else (",", ":")).encode()
        elif isinstance(body, str):
            body = body.encode()
        head = ["HTTP/1.1 %d %s" % (status, REASON_PHRASES.get(status, "Unknown")),
                "X-elastic-product: Elasticsearch"]
        if ctype and body:
            head.append("Content-Type: " + ctype)
        for k, v in headers:
            head.append("%s: %s" % (k, v))
        head.append("Content-Length: %d" % (0 if self.command == "HEAD" else len(body)))
        if close:
            head.append("Connection: close")
            self.close_connection = True
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.command != "HEAD":
            data += body
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True
        self.log_request(status, len(body))

    def read_body(self):
        """The request body (decoded), or None after answering 413/400."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
                total += size
            body = b"".join(parts)
        else:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n > 0 else b""
        if len(body) > self.max_body():
            with self.server.store.lock:
                self.server.bump("rejected_requests", "413")
            self.send(413, b"", close=True)
            return None
        enc = (self.headers.get("Content-Encoding") or "").lower()
        try:
            if enc == "gzip":
                body = gzip.decompress(body)
            elif enc == "deflate":
                body = zlib.decompress(body)
        except (OSError, zlib.error, EOFError) as e:
            self.send(400, es_error(400, "illegal_argument_exception",
                                    "failed to decompress the request body: %s" % e))
            return None
        return body

    def do_GET(self):
        self.route()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    # ---- dispatch -------------------------------------------------------

    def route(self):
        u = urlsplit(self.path)
        self.query = parse_qs(u.query, keep_blank_values=True)
        parts = [unquote(p) for p in u.path.split("/") if p]
        srv = self.server
        if parts and parts[0] == "_standin":
            body = self.read_body()
            if body is not None:
                self.control(parts[1:], body)
            return
        with srv.store.lock:
            srv.bump("requests")
        body = self.read_body()
        if body is None:
            return
        if not self.authorized(u):
            return
        is_bulk = parts[-1:] == ["_bulk"]
        if self.injected_status(is_bulk, len(body)):
            return
        m = self.command
        try:
            if not parts:
                if m in ("GET", "HEAD"):
                    return self.send(200, self.info())
            elif parts[0] == "_index_template":
                return self.index_template(parts[1:], body)
            elif parts == ["_cluster", "health"] and m == "GET":
                return self.send(200, {"cluster_name": "fieldgate-test", "status": "green",
                                       "timed_out": False, "number_of_nodes": 1,
                                       "number_of_data_nodes": 1,
                                       "active_primary_shards": len(srv.store.indices),
                                       "active_shards": len(srv.store.indices),
                                       "relocating_shards": 0, "initializing_shards": 0,
                                       "unassigned_shards": 0, "delayed_unassigned_shards": 0,
                                       "number_of_pending_tasks": 0,
                                       "number_of_in_flight_fetch": 0,
                                       "task_max_waiting_in_queue_millis": 0,
                                       "active_shards_percent_as_number": 100.0})
            elif is_bulk and len(parts) <= 2:
                if m in ("POST", "PUT"):
                    return self.bulk(parts[0] if len(parts) == 2 else None, body)
            elif len(parts) == 3 and parts[1] == "_doc" and m in ("GET", "HEAD"):
                return self.get_doc(parts[0], parts[2])
            elif len(parts) == 2 and parts[1] in ("_count", "_search") and m in ("GET", "POST"):
                return self.count_or_search(parts[0], parts[1], body)
            elif len(parts) == 2 and parts[1] == "_mapping" and m == "GET":
                return self.get_mapping(parts[0])
            elif len(parts) == 1 and not parts[0].startswith("_") and m == "DELETE":
                return self.delete_index(parts[0])
            elif len(parts) == 1 and not parts[0].startswith("_") and m == "HEAD":
                return self.send(200 if parts[0] in srv.store.indices else 404, b"")
        except BrokenPipeError:
            self.close_connection = True
            return
        self.send(400, {"error": "no handler found for uri [%s] and method [%s]"
                        % (self.path, m), "status": 400})

    def authorized(self, u):
        a = self.server.args
        if not a.user and not a.api_key:
            return True
        auth = self.headers.get("Authorization") or ""
        scheme, _, cred = auth.partition(" ")
        uri = u.path + ("?" + u.query if u.query else "")
        reason = "missing authentication credentials for REST request [%s]" % uri
        if scheme.lower() == "basic" and a.user:
            try:
                dec = base64.b64decode(cred.strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                dec = ""
            if dec == a.user:
                return True
            reason = "unable to authenticate user [%s] for REST request [%s]" % (
                dec.partition(":")[0], uri)
        elif scheme.lower() == "apikey" and a.api_key:
            if cred.strip() == a.api_key:
                return True
            reason = ("unable to authenticate with provided credentials and anonymous "
                      "access is not allowed for this request")
        elif auth:
            reason = ("unable to authenticate with provided credentials and anonymous "
                      "access is not allowed for this request")
        challenges = ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"',
                      "ApiKey"]
        with self.server.store.lock:
            self.server.bump("auth_failures")
        self.send(401, es_error(401, "security_exception", reason,
                                header={"WWW-Authenticate": challenges}),
                  headers=[("WWW-Authenticate", c) for c in challenges])
        return False

    def injected_status(self, is_bulk, nbytes):
        srv = self.server
        with srv.store.lock:
            f = srv.faults
            st = f.get("request_status")
            if not st or (f.get("request_status_scope", "bulk") == "bulk" and not is_bulk):
                return False
            left = f.get("request_status_count", 1)
            if left <= 0:
                return False
            f["request_status_count"] = left - 1
            srv.bump("rejected_requests", str(st))
            if is_bulk:
                srv.bump("bulk_requests")
        etype, reason = REQUEST_ERRORS.get(st, ("exception", "stand-in injected error [%d]" % st))
        if "%d" in reason:
            reason = reason % nbytes
        headers = [("Retry-After", str(f["retry_after"]))] if f.get("retry_after") is not None else []
        if f.get("request_body") is not None:
            self.send(st, f["request_body"], headers=headers)
            return True
        self.send(st, es_error(st, f.get("request_error_type", etype),
                               f.get("request_error_reason", reason)), headers=headers)
        return True

    def info(self):
        v = self.server.args.version
        return {"name": "es-standin", "cluster_name": "fieldgate-test",
                "cluster_uuid": self.server.cluster_uuid,
                "version": {"number": v, "build_flavor": "default", "build_type": "tar",
                            "build_hash": "0" * 40, "build_date": "2024-08-05T10:05:34.233336849Z",
                            "build_snapshot": False, "lucene_version": "9.11.1",
                            "minimum_wire_compatibility_version": "7.17.0",
                            "minimum_index_compatibility_version": "7.0.0"},
                "tagline": "You Know, for Search"}

    def parse_type(self):
        v = self.server.args.version.split(".")
        old = len(v) > 1 and v[0] == "8" and v[1].isdigit() and int(v[1]) < 8
        return "mapper_parsing_exception" if old else "document_parsing_exception"

    # ---- index templates ------------------------------------------------

    def index_template(self, rest, body):
        st = self.server.store
        m = self.command
        name = rest[0] if rest else None
        if m == "PUT" or (m == "POST" and name):
            try:
                t = json.loads(body or b"null")
            except ValueError as e:
                return self.send(400, es_error(400, "x_content_parse_exception",
                                               "[1:1] failed to parse: %s" % e))
            if not isinstance(t, dict):
                return self.send(400, es_error(400, "parse_exception", "request body is required"))
            bad = sorted(set(t) - TEMPLATE_KEYS)
            if bad:
                return self.send(400, es_error(400, "x_content_parse_exception",
                                               "[1:2] [index_template] unknown field [%s]" % bad[0]))
            pats = t.get("index_patterns")
            if isinstance(pats, str):
                pats = [pats]
            if not pats:
                return self.send(400, es_error(400, "action_request_validation_exception",
                                               "Validation Failed: 1: index patterns are missing;"))
            tmpl = t.get("template") or {}
            bad = sorted(set(tmpl) - {"settings", "mappings", "aliases", "lifecycle"})
            if bad:
                return self.send(400, es_error(400, "x_content_parse_exception",
                                               "[1:2] [template] unknown field [%s]" % bad[0]))
            if "mappings" in tmpl:
                why = check_mappings(tmpl["mappings"])
                if why:
                    return self.send(400, es_error(400, "mapper_parsing_exception", why))
            stored = dict(t, index_patterns=pats, composed_of=t.get("composed_of", []))
            if "template" in t:
                stored["template"] = dict(tmpl)
                if "settings" in tmpl:
                    stored["template"]["settings"] = normalize_settings(tmpl["settings"])
            with st.lock:
                prio = t.get("priority", 0)
                for other, ot in st.templates.items():
                    if other == name or ot.get("priority", 0) != prio:
                        continue
                    op = ot.get("index_patterns", [])
                    if any(fnmatch.fnmatchcase(a, b) or fnmatch.fnmatchcase(b, a)
                           for a in pats for b in op):
                        return self.send(400, es_error(
                            400, "illegal_argument_exception",
                            "index template [%s] has index patterns %s matching patterns from existing "
                            "templates [%s] with patterns (%s => %s) that have the same priority [%d], "
                            "multiple index templates may not match during index creation, please use "
                            "a different priority" % (name, json.dumps(pats), other, other,
                                                      json.dumps(op), prio)))
                st.templates[name] = stored
                st.save_templates()
                self.server.bump("template_puts")
            return self.send(200, {"acknowledged": True})
        if m in ("GET", "HEAD"):
            with st.lock:
                names = [n for n in st.templates if name is None or
                         any(fnmatch.fnmatchcase(n, p) for p in name.split(","))]
                out = [{"name": n, "index_template": st.templates[n]} for n in sorted(names)]
            if not out and name and "*" not in name:
                if m == "HEAD":
                    return self.send(404, b"")
                return self.send(404, es_error(404, "resource_not_found_exception",
                                               "index template matching [%s] not found" % name))
            return self.send(200, b"" if m == "HEAD" else {"index_templates": out})
        if m == "DELETE" and name:
            with st.lock:
                if name not in st.templates:
                    return self.send(404, es_error(404, "resource_not_found_exception",
                                                   "index_template [%s] missing" % name))
                del st.templates[name]
                st.save_templates()
            return self.send(200, {"acknowledged": True})
        return self.send(405, {"error": "Incorrect HTTP method for uri [%s] and method [%s], "
                                        "allowed: [GET, PUT, DELETE, POST, HEAD]" % (self.path, m),
                               "status": 405})

    # ---- _bulk ----------------------------------------------------------

    def bulk(self, url_index, body):
        t0 = time.monotonic()
        srv = self.server
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        with srv.store.lock:
            srv.bump("bulk_requests")
            srv.counters["last_bulk_headers"] = {
                "content-type": self.headers.get("Content-Type"),
                "content-encoding": self.headers.get("Content-Encoding"),
                "user-agent": self.headers.get("User-Agent"),
                "authorization-scheme": (self.headers.get("Authorization") or " ").split(" ")[0] or None}
            srv.counters["max_bulk_bytes"] = max(srv.counters["max_bulk_bytes"], len(body))
        if body and not ctype:
            return self.send(406, {"error": "Content-Type header is missing", "status": 406})
        if ctype not in ("application/x-ndjson", "application/json",
                         "application/vnd.elasticsearch+x-ndjson",
                         "application/vnd.elasticsearch+json"):
            return self.send(406, {"error": "Content-Type header [%s] is not supported"
                                   % self.headers.get("Content-Type"), "status": 406})
        if body and not body.endswith(b"\n"):
            return self.send(400, es_error(400, "illegal_argument_exception",
                                           "The bulk request must be terminated by a newline [\\n]"))
        # Pass 1: the action lines (small, parsed), each with its raw source.
        lines = body.split(b"\n")
        ops, missing_index = [], []
        i, n = 0, len(lines) - 1
        while i < n:
            line = lines[i]
            i += 1
            if not line.strip():
                continue
            try:
                action = json.loads(line)
            except ValueError:
                return self.send(400, es_error(
                    400, "x_content_parse_exception",
                    "[1:2] Unexpected character in action/metadata line [%d]" % i))
            if not isinstance(action, dict) or len(action) != 1:
                return self.send(400, es_error(
                    400, "illegal_argument_exception",
                    "Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT "
                    "but found [%s]" % (i, type(action).__name__.upper())))
            op, meta = next(iter(action.items()))
            if op not in ("create", "index", "delete", "update"):
                return self.send(400, es_error(
                    400, "illegal_argument_exception",
                    "Malformed action/metadata line [%d], expected field [create], [delete], "
                    "[index] or [update] but found [%s]" % (i, op)))
            if not isinstance(meta, dict):
                return self.send(400, es_error(
                    400, "illegal_argument_exception",
                    "Malformed action/metadata line [%d], expected START_OBJECT but found [%s]"
                    % (i, type(meta).__name__.upper())))
            src = None
            if op != "delete":
                if i >= n:
                    return self.send(400, es_error(
                        400, "illegal_argument_exception",
                        "The bulk request must be terminated by a newline [\\n]"))
                src = lines[i]
                i += 1
            idx = meta.get("_index") or url_index
            if not idx:
                missing_index.append(len(ops) + 1)
            did = meta.get("_id")
            if did is not None:
                did = str(did)
                if len(did.encode()) > 512:
                    return self.send(400, es_error(
                        400, "action_request_validation_exception",
                        "Validation Failed: 1: id [%s] is too long, must be no longer than 512 bytes but was: %d;"
                        % (did, len(did.encode()))))
            elif op in ("delete", "update"):
                return self.send(400, es_error(400, "action_request_validation_exception",
                                               "Validation Failed: 1: id is missing;"))
            ops.append((op, idx, did, src))
        if not ops:
            return self.send(400, es_error(400, "action_request_validation_exception",
                                           "Validation Failed: 1: no requests added;"))
        if missing_index:
            return self.send(400, es_error(400, "action_request_validation_exception",
                                           "Validation Failed: " + "".join(
                                               "%d: index is missing;" % k for k in missing_index)))
        # Pass 2: apply, item by item, under the store lock.
        items, records, errors = [], [], False
        st = srv.store
        parse_type = self.parse_type()
        with st.lock:
            f = srv.faults
            frac = f.get("item_429_fraction") or 0
            merr = f.get("mapping_error")
            if isinstance(merr, dict):
                merr = [merr]
            validate = f.get("validate", not srv.args.no_validate)
            drop = f.get("drop_after_store", 0) > 0
            if drop:
                f["drop_after_store"] -= 1
            c = srv.counters
            c["bulk_items"] += len(ops)
            c["max_bulk_items"] = max(c["max_bulk_items"], len(ops))
            byst = c["items_by_status"]
            unmapped = set(c["unmapped_fields"])
            for op, idx, did, src in ops:
                ix = st.index(idx)
                qi, qid = ENC(idx), ENC(did) if did is not None else None
                status = None
                if frac and op != "delete" and srv.rng.random() < frac and \
                        f.get("item_429_count", 1) > 0:
                    if "item_429_count" in f:
                        f["item_429_count"] -= 1
                    status = 429
                    items.append('{"%s":{"_index":%s,"_id":%s,"status":429,"error":{"type":'
                                 '"es_rejected_execution_exception","reason":"rejected execution of '
                                 'primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, '
                                 'all_bytes=0, primary_operation_bytes=%d, max_coordinating_and_primary_bytes='
                                 '107374182]"}}}' % (op, qi, qid or "null", len(src or b"")))
                elif src is not None and op != "update" and (merr or (validate and ix.mappings)):
                    err = None
                    try:
                        doc = json.loads(src)
                        if not isinstance(doc, dict):
                            raise ValueError("not an object")
                    except ValueError:
                        err = {"type": parse_type,
                               "reason": "[1:1] failed to parse: source is not a JSON object",
                               "caused_by": {"type": "json_parse_exception",
                                             "reason": "Unexpected character at [1:1]"}}
                        doc = None
                    if doc is not None and merr:
                        for me in merr:
                            v = get_path(doc, me.get("field", ""))
                            if v is MISSING or ("value" in me and not same_value(v, me["value"])):
                                continue
                            ftype = flatten_props((ix.mappings or {}).get("properties")).get(
                                me["field"], {}).get("type", "keyword")
                            err = {"type": me.get("type", parse_type),
                                   "reason": "[1:%d] failed to parse field [%s] of type [%s] in document "
                                             "with id '%s'. Preview of field's value: '%s'"
                                             % (max(1, src.find(('"%s"' % me["field"].rsplit(".", 1)[-1]).encode()) + 2),
                                                me["field"], ftype, did, preview(v)),
                                   "caused_by": {"type": "illegal_argument_exception",
                                                 "reason": "injected by the ES stand-in's mapping_error fault"}}
                            break
                    if doc is not None and err is None and validate and ix.mappings:
                        try:
                            unmapped.update(ix.validator(parse_type).check(doc, did, src))
                        except FieldError as fe:
                            err = {"type": fe.etype, "reason": fe.reason}
                            if fe.caused_by:
                                err["caused_by"] = fe.caused_by
                    if err:
                        status = 400
                        items.append('{"%s":{"_index":%s,"_id":%s,"status":400,"error":%s}}'
                                     % (op, qi, qid or "null", json.dumps(err, separators=(",", ":"))))
                if status is None:
                    if op == "update":
                        status = 400
                        items.append('{"update":{"_index":%s,"_id":%s,"status":400,"error":{"type":'
                                     '"illegal_argument_exception","reason":"the ES stand-in does not '
                                     'implement update"}}}' % (qi, qid))
                    elif op == "delete":
                        old = ix.docs.pop(did, None)
                        status = 200 if old else 404
                        items.append('{"delete":{"_index":%s,"_id":%s,"_version":%d,"result":"%s",'
                                     '"_shards":{"total":2,"successful":1,"failed":0},"_seq_no":%d,'
                                     '"_primary_term":1,"status":%d}}'
                                     % (qi, qid, old[2] + 1 if old else 1,
                                        "deleted" if old else "not_found", ix.seq, status))
                        ix.seq += 1
                        if old:
                            records.append(json.dumps(["del", idx, did]).encode() + b"\t\n")
                    else:
                        if did is None:
                            did = new_uuid()[:20]
                            qid = ENC(did)
                        old = None if srv.args.discard else ix.docs.get(did)
                        if old and op == "create":
                            status = 409
                            c["duplicate_creates"] += 1
                            items.append('{"create":{"_index":%s,"_id":%s,"status":409,"error":{"type":'
                                         '"version_conflict_engine_exception","reason":%s,'
                                         '"index_uuid":"%s","shard":"0","index":%s}}}'
                                         % (qi, qid, ENC("[%s]: version conflict, document already "
                                                         "exists (current version [%d])" % (did, old[2])),
                                            ix.uuid, qi))
                        else:
                            ver = old[2] + 1 if old else 1
                            status = 200 if old else 201
                            if not srv.args.discard:
                                ix.docs[did] = [src, ix.seq, ver]
                            items.append('{"%s":{"_index":%s,"_id":%s,"_version":%d,"result":"%s",'
                                         '"_shards":{"total":2,"successful":1,"failed":0},'
                                         '"_seq_no":%d,"_primary_term":1,"status":%d}}'
                                         % (op, qi, qid, ver, "updated" if old else "created",
                                            ix.seq, status))
                            ix.seq += 1
                            c["docs_stored"] += 1
                            if not srv.args.discard:
                                records.append(json.dumps(["put", idx, did]).encode() + b"\t" + src + b"\n")
                if status >= 300 and not (op == "delete" and status == 404):
                    errors = True
                k = str(status)
                byst[k] = byst.get(k, 0) + 1
            c["unmapped_fields"] = sorted(unmapped)
            st.append(records)
            delay = f.get("delay_ms", 0)
            if delay and "delay_count" in f:
                if f["delay_count"] > 0:
                    f["delay_count"] -= 1
                else:
                    delay = 0
            if drop:
                c["dropped_connections"] += 1
        if delay:
            time.sleep(delay / 1000.0)
        if drop:
            # Stored, then the connection goes away before any answer.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        took = int((time.monotonic() - t0) * 1000)
        out = '{"errors":%s,"took":%d,"items":[%s]}' % (
            "true" if errors else "false", took, ",".join(items))
        if "filter_path" in self.query or "pretty" in self.query:
            return self.send(200, json.loads(out))
        self.send(200, out.encode())

    # ---- reads ----------------------------------------------------------

    def get_doc(self, index, did):
        st = self.server.store
        with st.lock:
            ix = st.indices.get(index)
            if ix is None:
                return self.send(404, es_error(404, "index_not_found_exception",
                                               "no such index [%s]" % index,
                                               **{"resource.type": "index_expression",
                                                  "resource.id": index, "index_uuid": "_na_",
                                                  "index": index}))
            d = ix.docs.get(did)
        if d is None:
            return self.send(404, '{"_index":%s,"_id":%s,"found":false}' % (ENC(index), ENC(did)))
        self.send(200, '{"_index":%s,"_id":%s,"_version":%d,"_seq_no":%d,"_primary_term":1,'
                       '"found":true,"_source":%s}'
                  % (ENC(index), ENC(did), d[2], d[1], d[0].decode("utf-8", "replace"))
                  if "filter_path" not in self.query else
                  {"_index": index, "_id": did, "_version": d[2], "_seq_no": d[1],
                   "_primary_term": 1, "found": True, "_source": json.loads(d[0])})

    def query_filter(self, body):
        """A predicate on parsed documents from ?q=f:v or a simple query body,
        or None for "all documents"."""
        q = self.query.get("q", [None])[0]
        if q:
            field, _, val = q.partition(":")
            if not _:
                return lambda doc: any(str(v) == field for v in doc.values())
            val = val.strip('"')
            return lambda doc: (lambda v: v is not MISSING and (
                str(v).lower() == val.lower() if isinstance(v, bool) else
                (str(v) == val or (isinstance(v, (int, float)) and
                                   _num(val) is not None and v == _num(val)))))(get_path(doc, field))
        if body:
            try:
                b = json.loads(body)
            except ValueError:
                return "bad"
            query = b.get("query") if isinstance(b, dict) else None
            if not query or "match_all" in query:
                return None
            for kind in ("term", "match"):
                if kind in query and isinstance(query[kind], dict) and len(query[kind]) == 1:
                    field, val = next(iter(query[kind].items()))
                    if isinstance(val, dict):
                        val = val.get("value", val.get("query"))
                    return lambda doc, f=field, v=val: (lambda x: x is not MISSING and same_value(x, v))(
                        get_path(doc, f))
            return "bad"
        return None

    def count_or_search(self, expr, what, body):
        st = self.server.store
        pred = self.query_filter(body)
        if pred == "bad":
            return self.send(400, es_error(400, "parsing_exception",
                                           "the ES stand-in understands only q=field:value, "
                                           "term, match and match_all queries"))
        with st.lock:
            names, missing = st.resolve(expr)
            if names is None:
                return self.send(404, es_error(404, "index_not_found_exception",
                                               "no such index [%s]" % missing,
                                               **{"resource.type": "index_or_alias",
                                                  "resource.id": missing, "index_uuid": "_na_",
                                                  "index": missing}))
            hits = []
            for name in names:
                for did, d in st.indices[name].docs.items():
                    hits.append((name, did, d))
        if pred is not None:
            hits = [h for h in hits if pred(json.loads(h[2][0]))]
        shards = {"total": len(names), "successful": len(names), "skipped": 0, "failed": 0}
        if what == "_count":
            return self.send(200, {"count": len(hits), "_shards": shards})
        size = int(self.query.get("size", [10])[0])
        if body:
            try:
                size = int(json.loads(body).get("size", size))
            except (ValueError, AttributeError):
                pass
        hits.sort(key=lambda h: (h[0], h[2][1]))
        self.send(200, {"took": 1, "timed_out": False, "_shards": shards,
                        "hits": {"total": {"value": len(hits), "relation": "eq"},
                                 "max_score": 1.0 if hits else None,
                                 "hits": [{"_index": h[0], "_id": h[1], "_score": 1.0,
                                           "_source": json.loads(h[2][0])} for h in hits[:size]]}})

    def get_mapping(self, expr):
        st = self.server.store
        with st.lock:
            names, missing = st.resolve(expr)
            if names is None:
                return self.send(404, es_error(404, "index_not_found_exception",
                                               "no such index [%s]" % missing, index=missing))
            out = {n: {"mappings": st.indices[n].mappings} for n in names}
        self.send(200, out)

    def delete_index(self, name):
        st = self.server.store
        with st.lock:
            if name not in st.indices:
                return self.send(404, es_error(404, "index_not_found_exception",
                                               "no such index [%s]" % name, index=name))
            del st.indices[name]
            st.append([json.dumps(["drop", name]).encode() + b"\t\n"])
        self.send(200, {"acknowledged": True})

    # ---- control endpoint -----------------------------------------------

    def control(self, rest, body):
        srv, st = self.server, self.server.store
        m = self.command
        if rest == ["faults"] or rest == ["stats"]:
            if m == "POST" and rest == ["faults"]:
                try:
                    new = json.loads(body or b"{}")
                    if not isinstance(new, dict):
                        raise ValueError("expected a JSON object")
                except ValueError as e:
                    return self.send(400, {"error": "faults: %s" % e})
                with st.lock:
                    for k, v in new.items():
                        if v is None:
                            srv.faults.pop(k, None)
                        else:
                            srv.faults[k] = v
                    if "item_429_fraction" in new or "item_429_seed" in new:
                        srv.rng = random.Random(srv.faults.get("item_429_seed", 1))
                    if "request_status" in new and "request_status_count" not in new:
                        srv.faults["request_status_count"] = 1
            elif m == "DELETE" and rest == ["faults"]:
                with st.lock:
                    srv.faults = {}
                    srv.counters = srv.zero_counters()
                    srv.rng = random.Random(1)
            elif m != "GET":
                return self.send(405, {"error": "GET, POST or DELETE"})
            with st.lock:
                out = {"faults": dict(srv.faults), "counters": json.loads(json.dumps(srv.counters)),
                       "indices": {n: len(ix.docs) for n, ix in sorted(st.indices.items())}}
            return self.send(200, out)
        if len(rest) == 2 and rest[0] == "ids" and m == "GET":
            with st.lock:
                ix = st.indices.get(rest[1])
                ids = sorted(ix.docs) if ix else []
            if self.query.get("format", [""])[0] == "lines":
                return self.send(200, "".join(i + "\n" for i in ids), ctype="text/plain")
            return self.send(200, {"index": rest[1], "count": len(ids), "ids": ids})
        if len(rest) == 2 and rest[0] == "docs" and m == "GET":
            with st.lock:
                ix = st.indices.get(rest[1])
                docs = sorted(ix.docs.items(), key=lambda kv: kv[1][1]) if ix else []
            out = b"".join(b'{"_id":' + ENC(k).encode() + b',"_source":' + d[0] + b"}\n"
                           for k, d in docs)
            return self.send(200, out, ctype="application/x-ndjson")
        if rest == ["docs"] and m == "DELETE":
            with st.lock:
                for name in list(st.indices):
                    st.append([json.dumps(["drop", name]).encode() + b"\t\n"])
                st.indices.clear()
            return self.send(200, {"acknowledged": True})
        self.send(404, {"error": "unknown control path %s" % self.path})


def _num(s):
    try:
        return float(s)
    except ValueError:
        return None


def main():
    p = argparse.ArgumentParser(description="Elasticsearch 8 stand-in for fieldgate's tests")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port-file")
    p.add_argument("--data-dir")
    p.add_argument("--user", help="USER:PASS for basic auth")
    p.add_argument("--api-key")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--max-body-bytes", type=int, default=100 * 1024 * 1024)
    p.add_argument("--no-validate", action="store_true")
    p.add_argument("--discard", action="store_true")
    p.add_argument("--version", default="8.15.0")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.user and ":" not in args.user:
        p.error("--user wants USER:PASS")
    try:
        srv = Server((args.host, args.port), args)
    except (OSError, ssl.SSLError, ValueError) as e:
        sys.exit("es-standin: cannot start on %s:%d: %s" % (args.host, args.port, e))
    port = srv.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.replace(args.port_file + ".tmp", args.port_file)

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    sys.stderr.write("es-standin: listening on %s://%s:%d%s\n" % (
        "https" if srv.tls else "http", args.host, port,
        " (data in %s)" % args.data_dir if args.data_dir else ""))
    try:
        srv.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if srv.store.log:
            srv.store.log.flush()


if __name__ == "__main__":
    main()
