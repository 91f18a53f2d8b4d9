#!/usr/bin/python3
"""gen_dashboards.py - writes fieldgate-dashboards.ndjson, the Kibana 8
saved-objects export (Stack Management > Saved Objects > Import, or
POST /api/saved_objects/_import) with fieldgate's data view, visualizations,
map, saved searches and the "fieldgate: sensor overview" dashboard.

Kibana stores nested state as JSON strings (visState, searchSourceJSON,
layerListJSON, panelsJSON); writing them by hand is error-prone, so the
export is generated from the plain structures below. Edit this file, run it,
commit both; tests/integration/test_kibana_dashboards.sh checks that the
export is up to date and uses only fields of packaging/elasticsearch/mappings.json.

Usage: gen_dashboards.py [OUT]   (default: fieldgate-dashboards.ndjson beside it)
"""
import json
import os
import sys

DV = "fieldgate-sensors-scored"   # data view id
CORE = "8.8.0"                      # coreMigrationVersion of the export
PANEL_VERSION = "8.8.0"
KQL = "kuery"
ALERT_QUERY = "prediction.anomaly : true or prediction.status >= 1"


def j(o):
    return json.dumps(o, separators=(",", ":"), sort_keys=False)


def search_source(query=""):
    return {"searchSourceJSON": j({"query": {"query": query, "language": KQL}, "filter": [],
                                   "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"})}


DV_REF = [{"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern", "id": DV}]


def obj(type_, id_, attributes, references, tmv):
    return {"attributes": attributes, "coreMigrationVersion": CORE, "id": id_, "managed": False,
            "references": references, "type": type_, "typeMigrationVersion": tmv}


def data_view():
    fmt = {
        "temperature": {"id": "number", "params": {"pattern": "0,0.0"}},
        "humidity": {"id": "number", "params": {"pattern": "0,0.0"}},
        "prediction.humidity": {"id": "number", "params": {"pattern": "0,0.0"}},
        "prediction.humidity_residual": {"id": "number", "params": {"pattern": "+0,0.00"}},
        "prediction.status_probability": {"id": "percent", "params": {"pattern": "0.0%"}},
        "prediction.anomaly_probability": {"id": "percent", "params": {"pattern": "0.0%"}},
        "prediction.status": {"id": "static_lookup", "params": {
            "lookupEntries": [{"key": "0", "value": "normal"}, {"key": "1", "value": "warning"},
                              {"key": "2", "value": "fault"}], "unknownKeyValue": None}},
    }
    return obj("index-pattern", DV, {
        "allowHidden": False, "fieldAttrs": j({"prediction.status": {"customLabel": "predicted status"},
                                               "prediction.anomaly": {"customLabel": "predicted anomaly"}}),
        "fieldFormatMap": j(fmt), "fields": "[]", "name": "fieldgate: sensors-scored",
        "runtimeFieldMap": "{}", "sourceFilters": "[]", "timeFieldName": "@timestamp",
        "title": "sensors-scored*"}, [], "8.0.0")


def vis(id_, title, vis_state, query="", description=""):
    vis_state = dict(vis_state, title=title)
    return obj("visualization", id_, {
        "description": description, "kibanaSavedObjectMeta": search_source(query),
        "title": title, "uiStateJSON": "{}", "version": 1, "visState": j(vis_state)}, DV_REF, "8.5.0")


def date_hist(id_, schema="segment"):
    return {"id": id_, "enabled": True, "type": "date_histogram", "schema": schema,
            "params": {"field": "@timestamp", "useNormalizedEsInterval": True, "scaleMetricValues": False,
                       "interval": "auto", "drop_partials": False, "min_doc_count": 1, "extended_bounds": {}}}


def metric(id_, type_, field, label):
    return {"id": id_, "enabled": True, "type": type_, "schema": "metric",
            "params": {"field": field, "customLabel": label}}


def terms(id_, field, size, schema, label, order_by="1"):
    return {"id": id_, "enabled": True, "type": "terms", "schema": schema,
            "params": {"field": field, "orderBy": order_by, "order": "desc", "size": size,
                       "otherBucket": False, "otherBucketLabel": "Other", "missingBucket": False,
                       "missingBucketLabel": "Missing", "customLabel": label}}


def axis(id_, name, position, title):
    return {"id": id_, "name": name, "type": "value", "position": position, "show": True, "style": {},
            "scale": {"type": "linear", "mode": "normal"},
            "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100}, "title": {"text": title}}


def series(agg_id, label, axis_id, type_="line"):
    return {"show": True, "type": type_, "mode": "normal", "data": {"label": label, "id": agg_id},
            "valueAxis": axis_id, "drawLinesBetweenPoints": True, "lineWidth": 2,
            "interpolate": "linear", "showCircles": False}


def xy_params(type_, value_axes, series_params):
    return {"type": type_, "grid": {"categoryLines": False},
            "categoryAxes": [{"id": "CategoryAxis-1", "type": "category", "position": "bottom", "show": True,
                              "style": {}, "scale": {"type": "linear"},
                              "labels": {"show": True, "filter": True, "truncate": 100}, "title": {}}],
            "valueAxes": value_axes, "seriesParams": series_params, "addTooltip": True,
            "legendPosition": "right", "times": [], "addTimeMarker": False, "detailedTooltip": True,
            "palette": {"type": "palette", "name": "default"}, "isVislibVis": True,
            "fittingFunction": "linear", "thresholdLine": {"show": False, "value": 10, "width": 1,
                                                           "style": "full", "color": "#E7664C"},
            "labels": {}}


def visualizations():
    out = []
    out.append(vis("fieldgate-vis-temperature-humidity", "fieldgate: temperature and humidity over time", {
        "type": "line",
        "params": xy_params("line",
                            [axis("ValueAxis-1", "LeftAxis-1", "left", "temperature (°C)"),
                             axis("ValueAxis-2", "RightAxis-1", "right", "humidity (% RH)")],
                            [series("1", "temperature", "ValueAxis-1"),
                             series("2", "humidity", "ValueAxis-2"),
                             series("3", "predicted humidity", "ValueAxis-2")]),
        "aggs": [metric("1", "avg", "temperature", "temperature"),
                 metric("2", "avg", "humidity", "humidity"),
                 metric("3", "avg", "prediction.humidity", "predicted humidity"),
                 date_hist("4")]},
        description="Average measured temperature and humidity, and the humidity model's prediction."))
    out.append(vis("fieldgate-vis-status-distribution", "fieldgate: predicted status distribution", {
        "type": "pie",
        "params": {"type": "pie", "addTooltip": True, "legendPosition": "right", "isDonut": True,
                   "labels": {"show": True, "values": True, "last_level": True, "truncate": 100},
                   "palette": {"type": "palette", "name": "default"}, "distinctColors": True,
                   "legendDisplay": "show", "nestedLegend": False},
        "aggs": [{"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}},
                 terms("2", "prediction.status", 3, "segment", "predicted status"),
                 terms("3", "site", 10, "segment", "site")]},
        description="Events by the status model's prediction (0 normal, 1 warning, 2 fault), per site."))
    out.append(vis("fieldgate-vis-anomalies-by-sensor", "fieldgate: anomalies by sensor", {
        "type": "table",
        "params": {"perPage": 10, "showPartialRows": False, "showMetricsAtAllLevels": False,
                   "showTotal": True, "totalFunc": "sum", "percentageCol": "", "autoFitRowToContent": False},
        "aggs": [{"id": "1", "enabled": True, "type": "count", "schema": "metric",
                  "params": {"customLabel": "anomalies"}},
                 {"id": "2", "enabled": True, "type": "max", "schema": "metric",
                  "params": {"field": "prediction.anomaly_probability", "customLabel": "max anomaly probability"}},
                 {"id": "3", "enabled": True, "type": "top_hits", "schema": "metric",
                  "params": {"field": "@timestamp", "aggregate": "concat", "size": 1,
                             "sortField": "@timestamp", "sortOrder": "desc", "customLabel": "last seen"}},
                 terms("4", "sensor_id", 50, "bucket", "sensor"),
                 terms("5", "location", 1, "bucket", "location")]},
        query="prediction.anomaly : true",
        description="Sensors with events the anomaly model flagged, most first."))
    out.append(vis("fieldgate-vis-alerts-over-time", "fieldgate: alerts over time", {
        "type": "histogram",
        "params": dict(xy_params("histogram", [axis("ValueAxis-1", "LeftAxis-1", "left", "events")],
                                 [dict(series("1", "events", "ValueAxis-1", "histogram"), mode="stacked")])),
        "aggs": [{"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}},
                 date_hist("2"),
                 {"id": "3", "enabled": True, "type": "filters", "schema": "group", "params": {"filters": [
                     {"input": {"query": "prediction.anomaly : true", "language": KQL}, "label": "anomaly"},
                     {"input": {"query": "prediction.status : 1", "language": KQL}, "label": "warning"},
                     {"input": {"query": "prediction.status : 2", "language": KQL}, "label": "fault"}]}}]},
        query=ALERT_QUERY,
        description="Events the agent's [alerts] fire on: anomalies, warnings and faults."))
    return out


def searches():
    cols = ["sensor_id", "site", "location", "temperature", "humidity", "prediction.status",
            "prediction.status_probability", "prediction.anomaly", "prediction.anomaly_probability"]
    mk = lambda id_, title, query, columns, desc: obj("search", id_, {
        "columns": columns, "description": desc, "grid": {}, "hideChart": False,
        "isTextBasedQuery": False, "kibanaSavedObjectMeta": search_source(query),
        "sort": [["@timestamp", "desc"]], "timeRestore": False, "title": title}, DV_REF, "8.0.0")
    return [
        mk("fieldgate-search-anomalies", "fieldgate: anomalies", "prediction.anomaly : true",
           ["sensor_id", "site", "location", "temperature", "humidity", "prediction.anomaly_probability",
            "prediction.humidity", "prediction.humidity_residual", "models.anomaly"],
           "Events the anomaly model flagged, newest first."),
        mk("fieldgate-search-alert-history", "fieldgate: alert history", ALERT_QUERY, cols,
           "Events the agent's [alerts] fire on (anomaly, or predicted status warning or fault)."),
    ]


def sensor_map():
    layers = [
        {"sourceDescriptor": {"type": "EMS_TMS", "isAutoSelect": True, "lightModeDefault": "road_map_desaturated"},
         "id": "fieldgate-basemap", "label": None, "minZoom": 0, "maxZoom": 24, "alpha": 1, "visible": True,
         "style": {"type": "EMS_VECTOR_TILE", "color": ""}, "includeInFitToBounds": True, "type": "EMS_VECTOR_TILE"},
        {"sourceDescriptor": {
            "type": "ES_SEARCH", "id": "fieldgate-sensors-source", "geoField": "geo",
            "scalingType": "TOP_HITS", "topHitsSplitField": "sensor_id", "topHitsSize": 1,
            "sortField": "@timestamp", "sortOrder": "desc", "filterByMapBounds": True,
            "tooltipProperties": ["sensor_id", "site", "location", "temperature", "humidity",
                                  "prediction.status", "prediction.anomaly", "@timestamp"],
            "applyGlobalQuery": True, "applyGlobalTime": True, "applyForceRefresh": True,
            "indexPatternRefName": "layer_1_source_index_pattern"},
         "id": "fieldgate-sensors", "label": "sensors (latest reading)", "minZoom": 0, "maxZoom": 24,
         "alpha": 0.85, "visible": True, "includeInFitToBounds": True, "type": "GEOJSON_VECTOR", "joins": [],
         "style": {"type": "VECTOR", "isTimeAware": True, "properties": {
             "icon": {"type": "STATIC", "options": {"value": "marker"}},
             "fillColor": {"type": "DYNAMIC", "options": {
                 "color": "Blue to Red", "colorCategory": "palette_0", "type": "ORDINAL",
                 "field": {"name": "temperature", "origin": "source"},
                 "fieldMetaOptions": {"isEnabled": True, "sigma": 3}}},
             "lineColor": {"type": "STATIC", "options": {"color": "#FFFFFF"}},
             "lineWidth": {"type": "STATIC", "options": {"size": 1}},
             "iconSize": {"type": "STATIC", "options": {"size": 7}},
             "iconOrientation": {"type": "STATIC", "options": {"orientation": 0}},
             "labelText": {"type": "DYNAMIC", "options": {"field": {"name": "sensor_id", "origin": "source"}}},
             "labelZoomRange": {"options": {"useLayerZoomRange": True, "minZoom": 0, "maxZoom": 24}},
             "labelColor": {"type": "STATIC", "options": {"color": "#000000"}},
             "labelSize": {"type": "STATIC", "options": {"size": 12}},
             "labelBorderColor": {"type": "STATIC", "options": {"color": "#FFFFFF"}},
             "symbolizeAs": {"options": {"value": "circle"}},
             "labelBorderSize": {"options": {"size": "SMALL"}},
             "labelPosition": {"options": {"position": "TOP"}}}}},
    ]
    state = {"zoom": 2, "center": {"lon": 0, "lat": 20},
             "timeFilters": {"from": "now-24h", "to": "now"},
             "refreshConfig": {"isPaused": False, "interval": 30000},
             "query": {"query": "", "language": KQL}, "filters": [],
             "settings": {"autoFitToDataBounds": True, "initialLocation": "LAST_SAVED_LOCATION",
                          "fixedLocation": {"lat": 0, "lon": 0, "zoom": 2}, "browserLocation": {"zoom": 2},
                          "maxZoom": 24, "minZoom": 0, "showScaleControl": False, "showSpatialFilters": True,
                          "showTimesliderToggleButton": True, "hideToolbarOverlay": False,
                          "hideLayerControl": False, "hideViewControl": False,
                          "disableInteractive": False, "disableTooltipControl": False,
                          "backgroundColor": "#ffffff", "spatialFiltersAlpa": 0.3,
                          "spatialFiltersFillColor": "#DA8B45", "spatialFiltersLineColor": "#DA8B45"}}
    return obj("map", "fieldgate-map-sensors", {
        "description": "Each sensor at its reported position, coloured by its latest temperature.",
        "layerListJSON": j(layers), "mapStateJSON": j(state), "title": "fieldgate: sensor map",
        "uiStateJSON": j({"isLayerTOCOpen": True, "openTOCDetails": []})},
        [{"name": "layer_1_source_index_pattern", "type": "index-pattern", "id": DV}], "8.4.0")


def dashboard(panels):
    pj, refs = [], []
    for i, (o, x, y, w, h) in enumerate(panels, 1):
        pid = "p%d" % i
        pj.append({"version": PANEL_VERSION, "type": o["type"],
                   "gridData": {"x": x, "y": y, "w": w, "h": h, "i": pid}, "panelIndex": pid,
                   "embeddableConfig": {"enhancements": {}}, "panelRefName": "panel_" + pid})
        refs.append({"name": "%s:panel_%s" % (pid, pid), "type": o["type"], "id": o["id"]})
    return obj("dashboard", "fieldgate-dashboard-overview", {
        "description": "fieldgate edge gateways: measurements, model predictions, sensor map and alerts.",
        "kibanaSavedObjectMeta": {"searchSourceJSON": j({"query": {"query": "", "language": KQL},
                                                         "filter": []})},
        "optionsJSON": j({"useMargins": True, "syncColors": False, "syncCursor": True,
                          "syncTooltips": False, "hidePanelTitles": False}),
        "panelsJSON": j(pj), "refreshInterval": {"pause": False, "value": 30000},
        "timeFrom": "now-24h", "timeRestore": True, "timeTo": "now",
        "title": "fieldgate: sensor overview", "version": 1}, refs, "8.7.0")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "fieldgate-dashboards.ndjson")
    v = visualizations()
    s = searches()
    m = sensor_map()
    by_id = {o["id"]: o for o in v + s + [m]}
    d = dashboard([
        (by_id["fieldgate-vis-temperature-humidity"], 0, 0, 32, 15),
        (by_id["fieldgate-vis-status-distribution"], 32, 0, 16, 15),
        (m, 0, 15, 24, 20),
        (by_id["fieldgate-vis-anomalies-by-sensor"], 24, 15, 24, 20),
        (by_id["fieldgate-vis-alerts-over-time"], 0, 35, 48, 12),
        (by_id["fieldgate-search-alert-history"], 0, 47, 48, 16),
        (by_id["fieldgate-search-anomalies"], 0, 63, 48, 16),
    ])
    objs = [data_view()] + v + s + [m, d]
    with open(out, "w") as f:
        for o in objs:
            f.write(j(o) + "\n")
        f.write(j({"excludedObjects": [], "excludedObjectsCount": 0, "exportedCount": len(objs),
                   "missingRefCount": 0, "missingReferences": []}) + "\n")


if __name__ == "__main__":
    main()
