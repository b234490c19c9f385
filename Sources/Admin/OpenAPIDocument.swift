/// The JSON API described in OpenAPI 3.1, served at `/api/v1/openapi.json`; the tests check
/// the API against it.
enum OpenAPIDocument {
    static let json = #"""
{
  "openapi": "3.1.0",
  "info": {"title": "Pillarbox admin API", "version": "1"},
  "servers": [{"url": "/api/v1"}],
  "components": {
    "securitySchemes": {
      "session": {"type": "apiKey", "in": "cookie", "name": "pillarbox_session",
                  "description": "From POST /session; changes also need the X-CSRF-Token header."},
      "token": {"type": "http", "scheme": "bearer", "description": "From `pillarbox admin token create`."}
    },
    "schemas": {
      "Problem": {"type": "object", "required": ["type", "title", "status"], "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "field": {"type": "string"}}},
      "Session": {"type": "object", "required": ["user", "admin"], "properties": {
        "user": {"type": "string"}, "admin": {"type": "boolean"}, "csrf": {"type": "string"}}},
      "Setting": {"type": "object", "required": ["key", "type", "summary", "default", "value", "is_default"], "properties": {
        "key": {"type": "string"}, "type": {"type": "string"}, "summary": {"type": "string"},
        "default": {"type": "string", "description": "JSON"}, "value": {"type": "string", "description": "JSON"},
        "is_default": {"type": "boolean"}}},
      "User": {"type": "object", "required": ["name", "admin", "protocols", "may_send_internet_mail", "locked_out"], "properties": {
        "name": {"type": "string"}, "admin": {"type": "boolean"}, "protocols": {"type": "array", "items": {"type": "string"}},
        "may_send_internet_mail": {"type": "boolean"}, "locked_out": {"type": "boolean"}, "forward_to": {"type": "string"},
        "use_forwarding": {"type": "boolean"}, "reply_to": {"type": "string"}, "comments": {"type": "string"}}},
      "UserPage": {"type": "object", "required": ["items", "total", "offset", "limit"], "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/User"}}, "total": {"type": "integer"},
        "offset": {"type": "integer"}, "limit": {"type": "integer"}}},
      "NewUser": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "password": {"type": "string"}, "admin": {"type": "boolean"}, "comments": {"type": "string"}}},
      "UserChange": {"type": "object", "properties": {
        "password": {"type": "string"}, "admin": {"type": "boolean"}, "locked_out": {"type": "boolean"},
        "may_send_internet_mail": {"type": "boolean"}, "forward_to": {"type": "string"}, "use_forwarding": {"type": "boolean"},
        "reply_to": {"type": "string"}, "comments": {"type": "string"}}},
      "Domain": {"type": "object", "required": ["pattern"], "properties": {"pattern": {"type": "string"}}},
      "Alias": {"type": "object", "required": ["address", "target"], "properties": {
        "address": {"type": "string"}, "target": {"type": "string"}}},
      "QueuedRecipient": {"type": "object", "required": ["msgid", "rcptid", "state", "from", "to", "size", "created", "attempts"],
        "properties": {"msgid": {"type": "string"}, "rcptid": {"type": "integer"}, "state": {"type": "string"},
        "from": {"type": "string"}, "to": {"type": "string"}, "size": {"type": "integer"},
        "created": {"type": "string", "format": "date-time"}, "attempts": {"type": "integer"}, "last_reply": {"type": "string"}}},
      "Block": {"type": "object", "required": ["address"], "properties": {
        "address": {"type": "string"}, "minutes": {"type": "integer"}, "reason": {"type": "string"},
        "until": {"type": "string", "format": "date-time"}}}
    },
    "responses": {
      "Problem": {"description": "RFC 9457 problem details", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    }
  },
  "security": [{"session": []}, {"token": []}],
  "paths": {
    "/session": {
      "post": {"summary": "Log in", "security": [], "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "required": ["user", "password"], "properties": {"user": {"type": "string"}, "password": {"type": "string"}}}}}},
        "responses": {"200": {"description": "Logged in", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Session"}}}},
                      "400": {"$ref": "#/components/responses/Problem"}, "401": {"$ref": "#/components/responses/Problem"},
                      "403": {"$ref": "#/components/responses/Problem"}}},
      "delete": {"summary": "Log out", "responses": {"204": {"description": "Logged out"}}}
    },
    "/me": {"get": {"summary": "The user logged in", "responses": {
      "200": {"description": "The user", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}},
      "401": {"$ref": "#/components/responses/Problem"}}}},
    "/settings": {"get": {"summary": "Every setting", "responses": {
      "200": {"description": "Settings", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Setting"}}}}},
      "401": {"$ref": "#/components/responses/Problem"}, "403": {"$ref": "#/components/responses/Problem"}}}},
    "/settings/{key}": {"put": {"summary": "Change a setting",
      "parameters": [{"name": "key", "in": "path", "required": true, "schema": {"type": "string"}}],
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["value"],
        "properties": {"value": {"type": "string", "description": "JSON; strings may be bare"}}}}}},
      "responses": {"200": {"description": "The setting", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Setting"}}}},
        "400": {"$ref": "#/components/responses/Problem"}, "401": {"$ref": "#/components/responses/Problem"},
        "403": {"$ref": "#/components/responses/Problem"}, "404": {"$ref": "#/components/responses/Problem"},
        "413": {"$ref": "#/components/responses/Problem"}, "422": {"$ref": "#/components/responses/Problem"}}}},
    "/users": {
      "get": {"summary": "Users by name", "parameters": [
          {"name": "q", "in": "query", "schema": {"type": "string"}},
          {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
        "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UserPage"}}}},
          "400": {"$ref": "#/components/responses/Problem"}, "401": {"$ref": "#/components/responses/Problem"},
          "403": {"$ref": "#/components/responses/Problem"}}},
      "post": {"summary": "Create a user", "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewUser"}}}},
        "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}},
          "400": {"$ref": "#/components/responses/Problem"}, "401": {"$ref": "#/components/responses/Problem"},
          "403": {"$ref": "#/components/responses/Problem"}, "409": {"$ref": "#/components/responses/Problem"},
          "422": {"$ref": "#/components/responses/Problem"}}}
    },
    "/users/{name}": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"summary": "A user", "responses": {"200": {"description": "The user", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}},
        "404": {"$ref": "#/components/responses/Problem"}}},
      "patch": {"summary": "Change a user", "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UserChange"}}}},
        "responses": {"200": {"description": "The user", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}},
          "400": {"$ref": "#/components/responses/Problem"}, "404": {"$ref": "#/components/responses/Problem"},
          "422": {"$ref": "#/components/responses/Problem"}}},
      "delete": {"summary": "Remove a user", "responses": {"204": {"description": "Removed"}, "404": {"$ref": "#/components/responses/Problem"}}}
    },
    "/domains": {
      "get": {"summary": "Local domains", "responses": {"200": {"description": "Domains", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Domain"}}}}}}},
      "post": {"summary": "Add a domain", "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Domain"}}}},
        "responses": {"201": {"description": "Added", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Domain"}}}},
          "400": {"$ref": "#/components/responses/Problem"}, "409": {"$ref": "#/components/responses/Problem"}, "422": {"$ref": "#/components/responses/Problem"}}}
    },
    "/domains/{pattern}": {"delete": {"summary": "Remove a domain",
      "parameters": [{"name": "pattern", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"204": {"description": "Removed"}, "404": {"$ref": "#/components/responses/Problem"}, "409": {"$ref": "#/components/responses/Problem"}}}},
    "/aliases": {
      "get": {"summary": "Aliases", "responses": {"200": {"description": "Aliases", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Alias"}}}}}}},
      "post": {"summary": "Add an alias", "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Alias"}}}},
        "responses": {"201": {"description": "Added", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Alias"}}}},
          "400": {"$ref": "#/components/responses/Problem"}, "404": {"$ref": "#/components/responses/Problem"}, "409": {"$ref": "#/components/responses/Problem"}, "422": {"$ref": "#/components/responses/Problem"}}}
    },
    "/aliases/{address}": {"delete": {"summary": "Remove an alias",
      "parameters": [{"name": "address", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"204": {"description": "Removed"}, "404": {"$ref": "#/components/responses/Problem"}}}},
    "/queue": {"get": {"summary": "The outgoing queue's recipients",
      "parameters": [{"name": "all", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}}],
      "responses": {"200": {"description": "Recipients", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/QueuedRecipient"}}}}}}}},
    "/queue/{msgid}/{action}": {"post": {"summary": "Hold, release, delete, retry or bounce a queued message",
      "parameters": [{"name": "msgid", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "action", "in": "path", "required": true, "schema": {"type": "string", "enum": ["hold", "release", "delete", "retry", "bounce"]}}],
      "responses": {"204": {"description": "Done"}, "404": {"$ref": "#/components/responses/Problem"}, "409": {"$ref": "#/components/responses/Problem"}}}},
    "/queue/{msgid}/priority": {"put": {"summary": "Change a queued message's priority",
      "parameters": [{"name": "msgid", "in": "path", "required": true, "schema": {"type": "string"}}],
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["priority"],
        "properties": {"priority": {"type": "integer", "minimum": -1000, "maximum": 1000}}}}}},
      "responses": {"204": {"description": "Done"}, "400": {"$ref": "#/components/responses/Problem"},
        "404": {"$ref": "#/components/responses/Problem"}, "409": {"$ref": "#/components/responses/Problem"}}}},
    "/blocks": {
      "get": {"summary": "Blocked addresses", "responses": {"200": {"description": "Blocks", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Block"}}}}}}},
      "post": {"summary": "Block an address or network", "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Block"}}}},
        "responses": {"201": {"description": "Blocked", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Block"}}}},
          "400": {"$ref": "#/components/responses/Problem"}, "422": {"$ref": "#/components/responses/Problem"}}}
    },
    "/blocks/{address}": {"delete": {"summary": "Lift a block",
      "parameters": [{"name": "address", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"204": {"description": "Lifted"}, "404": {"$ref": "#/components/responses/Problem"}}}}
  }
}
"""#
}
