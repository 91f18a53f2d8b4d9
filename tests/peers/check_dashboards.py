#!/usr/bin/python3
"""check_dashboards.py - checks a Kibana saved-objects export (NDJSON)
against fieldgate's index mappings, so that a renamed or misspelt field in
packaging/kibana/fieldgate-dashboards.ndjson fails a test instead of
showing an empty panel to an operator.

Usage: check_dashboards.py EXPORT.ndjson MAPPINGS.json [--index NAME]

Checks: every line is JSON; the last line is the export summary and its
exportedCount matches; every object has id, type, attributes, references;
(type, id) pairs are unique; every reference resolves to an object in the
file; every *RefName used inside the objects (indexRefName, panelRefName,
indexPatternRefName, index_pattern_ref_name) has its reference; the data
views' titles match the index NAME (default sensors-scored); and every field
name used anywhere (visState agg params, columns, sort, KQL/Lucene queries
in searchSourceJSON and filters, map layers' geoField, tooltipProperties,
sort and split fields and style fields, Lens sourceField, fieldFormatMap,
fieldAttrs, timeFieldName) exists in the mappings (nested properties
flattened with dots), with a type the aggregation can use. Prints one line
per problem and exits 1 if there is any, else prints a summary and exits 0.
"""
import argparse
import fnmatch
import json
import re
import sys

NUMERIC = {"byte", "short", "integer", "long", "unsigned_long", "float", "double",
           "half_float", "scaled_float"}
AGG_TYPES = {  # legacy visualization aggregation -> field types it accepts
    "avg": NUMERIC, "sum": NUMERIC, "min": NUMERIC | {"date"}, "max": NUMERIC | {"date"},
    "median": NUMERIC, "percentiles": NUMERIC, "std_dev": NUMERIC, "histogram": NUMERIC,
    "range": NUMERIC, "date_histogram": {"date", "date_nanos"}, "date_range": {"date", "date_nanos"},
    "geohash_grid": {"geo_point"}, "geotile_grid": {"geo_point"}, "geo_centroid": {"geo_point"},
    "geo_bounds": {"geo_point"},
    "terms": NUMERIC | {"keyword", "boolean", "date", "ip"},
    "significant_terms": NUMERIC | {"keyword", "boolean", "ip"},
    "cardinality": NUMERIC | {"keyword", "boolean", "date", "ip"},
}
META_FIELDS = {"_id", "_index", "_score", "_source"}
FIELD_KEYS = {"field", "fieldName", "sourceField", "geoField", "sortField", "topHitsSplitField",
              "timeFieldName", "time_field", "splitField", "termsSplitField", "metricsField",
              "applyGlobalTimeField"}
FIELD_LIST_KEYS = {"tooltipProperties", "columns", "fields"}
REF_KEYS = {"indexRefName", "panelRefName", "indexPatternRefName", "index_pattern_ref_name"}
KNOWN_TYPES = {"index-pattern", "visualization", "search", "dashboard", "map", "lens", "tag",
               "query", "config", "url"}
QUERY_FIELD = re.compile(r"(?<![\w.@*\\-])([A-Za-z_@][\w.@*-]*)\s*(?::|<=|>=|<|>)")


def flatten(props, prefix=""):
    out = {}
    for name, m in props.items():
        if "properties" in m:
            out.update(flatten(m["properties"], prefix + name + "."))
        else:
            out[prefix + name] = m.get("type", "object")
            for sub, sm in (m.get("fields") or {}).items():
                out[prefix + name + "." + sub] = sm.get("type")
    return out


def query_fields(q):
    """Field names a KQL or Lucene query string refers to."""
    q = re.sub(r'"(?:[^"\\]|\\.)*"', '""', q)  # quoted values are not fields
    return [m.group(1) for m in QUERY_FIELD.finditer(q)
            if m.group(1).lower() not in ("and", "or", "not")]


class Checker:
    def __init__(self, fields, index):
        self.fields = fields  # flattened name -> ES type
        self.index = index    # the index the data views must cover
        self.problems = []    # one line each
        self.used = set()     # field names seen

    def bad(self, where, msg):
        self.problems.append("%s: %s" % (where, msg))

    def field(self, where, name, agg=None):
        if not isinstance(name, str) or not name:
            return
        self.used.add(name)
        if name in META_FIELDS:
            return
        if "*" in name:
            if not any(fnmatch.fnmatchcase(f, name) for f in self.fields):
                self.bad(where, "field pattern [%s] matches no field of the index mappings" % name)
            return
        if name not in self.fields:
            self.bad(where, "field [%s] is not in the index mappings" % name)
            return
        if agg in AGG_TYPES and self.fields[name] not in AGG_TYPES[agg]:
            self.bad(where, "aggregation [%s] cannot use field [%s] of type [%s]"
                     % (agg, name, self.fields[name]))

    def walk(self, o, where, refs, agg=None):
        """Every field name, query and *RefName in o (a parsed value, with
        JSON strings inside it parsed too)."""
        if isinstance(o, str):
            s = o.strip()
            if s[:1] in ("{", "[") and len(s) > 1:
                try:
                    self.walk(json.loads(s), where, refs)
                except ValueError:
                    pass
            return
        if isinstance(o, list):
            for i, x in enumerate(o):
                self.walk(x, "%s[%d]" % (where, i), refs, agg)
            return
        if not isinstance(o, dict):
            return
        if isinstance(o.get("type"), str) and isinstance(o.get("params"), dict) and "schema" in o:
            agg = o["type"]  # a legacy visualization aggregation
        if isinstance(o.get("query"), str) and ("language" in o or where.endswith("query")):
            for f in query_fields(o["query"]):
                self.field(where + ".query", f)
        for k, v in o.items():
            w = "%s.%s" % (where, k)
            if k in REF_KEYS and isinstance(v, str):
                refs.append((w, v, o))
            elif k in FIELD_KEYS:
                if isinstance(v, dict) and isinstance(v.get("name"), str):
                    self.field(w, v["name"])  # maps style: {"name": F, "origin": "source"}
                elif isinstance(v, str) and k in ("field", "sourceField"):
                    self.field(w, v, agg)
                elif isinstance(v, str):
                    self.field(w, v)
                else:
                    self.walk(v, w, refs, agg)
            elif k in FIELD_LIST_KEYS and isinstance(v, list) and all(isinstance(x, str) for x in v):
                for x in v:
                    if k != "fields" or not x.startswith("["):
                        self.field(w, x)
            elif k == "sort" and isinstance(v, list):
                for s in v:
                    if isinstance(s, list) and s and isinstance(s[0], str):
                        self.field(w, s[0])
                    elif isinstance(s, dict):
                        for f in s:
                            self.field(w, f)
            elif k in ("fieldFormatMap", "fieldAttrs", "runtimeFieldMap"):
                m = json.loads(v) if isinstance(v, str) and v.strip() else (v or {})
                for f in m:
                    if k != "runtimeFieldMap":
                        self.field(w, f)
            elif k == "meta" and isinstance(v, dict) and isinstance(v.get("key"), str):
                self.field(w + ".key", v["key"])  # a filter pill
                self.walk(v, w, refs, agg)
            else:
                self.walk(v, w, refs, agg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("export")
    ap.add_argument("mappings")
    ap.add_argument("--index", default="sensors-scored")
    a = ap.parse_args()
    with open(a.mappings) as f:
        m = json.load(f)
    m = m.get("template", m)  # a whole index template is accepted too
    fields = flatten(m["mappings"]["properties"])
    c = Checker(fields, a.index)
    objs, summary = [], None
    with open(a.export, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for n, line in enumerate(lines, 1):
        try:
            o = json.loads(line)
        except ValueError as e:
            c.bad("line %d" % n, "not JSON: %s" % e)
            continue
        if not isinstance(o, dict):
            c.bad("line %d" % n, "not a JSON object")
        elif "exportedCount" in o:
            if n != len(lines):
                c.bad("line %d" % n, "the export summary must be the last line")
            summary = o
        else:
            objs.append((n, o))
    if summary is None:
        c.bad(a.export, "no export summary line ({\"exportedCount\": ...}) at the end")
    else:
        if summary.get("exportedCount") != len(objs):
            c.bad("summary", "exportedCount %s but %d objects" % (summary.get("exportedCount"), len(objs)))
        if summary.get("missingRefCount") or summary.get("missingReferences"):
            c.bad("summary", "the export has missing references")
    have = {}
    for n, o in objs:
        where = "line %d" % n
        for k, t in (("id", str), ("type", str), ("attributes", dict), ("references", list)):
            if not isinstance(o.get(k), t):
                c.bad(where, "missing or mistyped '%s'" % k)
        if not isinstance(o.get("id"), str) or not isinstance(o.get("type"), str):
            continue
        if o["type"] not in KNOWN_TYPES:
            c.bad(where, "unknown saved-object type [%s]" % o["type"])
        key = (o["type"], o["id"])
        if key in have:
            c.bad(where, "duplicate %s [%s] (also line %d)" % (o["type"], o["id"], have[key]))
        have[key] = n
    for n, o in objs:
        if not isinstance(o.get("attributes"), dict) or not isinstance(o.get("id"), str):
            continue
        title = o["attributes"].get("title", o["id"])
        where = "%s [%s]" % (o.get("type"), title)
        refnames = {}
        for r in o.get("references") or []:
            if not isinstance(r, dict) or not all(isinstance(r.get(k), str) for k in ("name", "type", "id")):
                c.bad(where, "a reference without name/type/id: %s" % json.dumps(r))
                continue
            refnames[r["name"]] = r
            if (r["type"], r["id"]) not in have:
                c.bad(where, "reference [%s] to %s [%s] resolves to no object in the file"
                      % (r["name"], r["type"], r["id"]))
        if o.get("type") == "index-pattern":
            t = o["attributes"].get("title", "")
            if not any(fnmatch.fnmatchcase(a.index, p.strip()) for p in t.split(",")):
                c.bad(where, "data view title [%s] does not cover the index [%s]" % (t, a.index))
            if not o["attributes"].get("timeFieldName"):
                c.bad(where, "data view without timeFieldName")
        refs = []
        c.walk(o["attributes"], where, refs)
        for w, name, holder in refs:
            pidx = holder.get("panelIndex")
            if name in refnames or (pidx is not None and "%s:%s" % (pidx, name) in refnames):
                continue
            c.bad(w, "refers to [%s], which is not among the object's references" % name)
    for p in c.problems:
        print(p)
    if c.problems:
        print("%d problems in %s" % (len(c.problems), a.export))
        sys.exit(1)
    print("%s: %d objects, references resolve, %d distinct fields used, all in the mappings"
          % (a.export, len(objs), len(c.used)))


if __name__ == "__main__":
    main()
