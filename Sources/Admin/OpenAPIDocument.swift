/// The JSON API described in OpenAPI 3.1, served at `/api/v1/openapi.json`; the tests check
/// the API against it.
enum OpenAPIDocument {
    static let json = #"""
{
 "openapi": "3.1.0",
 "info": {
  "title": "Pillarbox admin API",
  "version": "1"
 },
 "servers": [
  {
   "url": "/api/v1"
  }
 ],
 "components": {
  "securitySchemes": {
   "session": {
    "type": "apiKey",
    "in": "cookie",
    "name": "pillarbox_session",
    "description": "From POST /session; changes also need the X-CSRF-Token header."
   },
   "token": {
    "type": "http",
    "scheme": "bearer",
    "description": "From `pillarbox admin token create`."
   }
  },
  "schemas": {
   "Problem": {
    "type": "object",
    "required": [
     "type",
     "title",
     "status"
    ],
    "properties": {
     "type": {
      "type": "string"
     },
     "title": {
      "type": "string"
     },
     "status": {
      "type": "integer"
     },
     "detail": {
      "type": "string"
     },
     "field": {
      "type": "string"
     }
    }
   },
   "Session": {
    "type": "object",
    "required": [
     "user",
     "admin"
    ],
    "properties": {
     "user": {
      "type": "string"
     },
     "admin": {
      "type": "boolean"
     },
     "csrf": {
      "type": "string"
     }
    }
   },
   "Setting": {
    "type": "object",
    "required": [
     "key",
     "type",
     "summary",
     "default",
     "value",
     "is_default"
    ],
    "properties": {
     "key": {
      "type": "string"
     },
     "type": {
      "type": "string"
     },
     "summary": {
      "type": "string"
     },
     "default": {
      "type": "string",
      "description": "JSON"
     },
     "value": {
      "type": "string",
      "description": "JSON"
     },
     "is_default": {
      "type": "boolean"
     }
    }
   },
   "User": {
    "type": "object",
    "required": [
     "name",
     "admin",
     "protocols",
     "may_send_internet_mail",
     "locked_out"
    ],
    "properties": {
     "name": {
      "type": "string"
     },
     "admin": {
      "type": "boolean"
     },
     "protocols": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "may_send_internet_mail": {
      "type": "boolean"
     },
     "locked_out": {
      "type": "boolean"
     },
     "forward_to": {
      "type": "string"
     },
     "use_forwarding": {
      "type": "boolean"
     },
     "reply_to": {
      "type": "string"
     },
     "comments": {
      "type": "string"
     }
    }
   },
   "UserPage": {
    "type": "object",
    "required": [
     "items",
     "total",
     "offset",
     "limit"
    ],
    "properties": {
     "items": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/User"
      }
     },
     "total": {
      "type": "integer"
     },
     "offset": {
      "type": "integer"
     },
     "limit": {
      "type": "integer"
     }
    }
   },
   "NewUser": {
    "type": "object",
    "required": [
     "name"
    ],
    "properties": {
     "name": {
      "type": "string"
     },
     "password": {
      "type": "string"
     },
     "admin": {
      "type": "boolean"
     },
     "comments": {
      "type": "string"
     }
    }
   },
   "UserChange": {
    "type": "object",
    "properties": {
     "password": {
      "type": "string"
     },
     "admin": {
      "type": "boolean"
     },
     "locked_out": {
      "type": "boolean"
     },
     "may_send_internet_mail": {
      "type": "boolean"
     },
     "forward_to": {
      "type": "string"
     },
     "use_forwarding": {
      "type": "boolean"
     },
     "reply_to": {
      "type": "string"
     },
     "comments": {
      "type": "string"
     }
    }
   },
   "Domain": {
    "type": "object",
    "required": [
     "pattern"
    ],
    "properties": {
     "pattern": {
      "type": "string"
     }
    }
   },
   "Alias": {
    "type": "object",
    "required": [
     "address",
     "target"
    ],
    "properties": {
     "address": {
      "type": "string"
     },
     "target": {
      "type": "string"
     }
    }
   },
   "Block": {
    "type": "object",
    "required": [
     "address"
    ],
    "properties": {
     "address": {
      "type": "string"
     },
     "minutes": {
      "type": "integer"
     },
     "reason": {
      "type": "string"
     },
     "until": {
      "type": "string",
      "format": "date-time"
     }
    }
   },
   "Page": {
    "type": "object",
    "required": [
     "items",
     "total",
     "offset",
     "limit"
    ],
    "properties": {
     "items": {
      "type": "array",
      "items": {
       "type": "object"
      }
     },
     "total": {
      "type": "integer"
     },
     "offset": {
      "type": "integer"
     },
     "limit": {
      "type": "integer"
     }
    },
    "description": "Rows of a table, newest first, with the table's own column names."
   },
   "QueuedRecipient": {
    "type": "object",
    "required": [
     "msgid",
     "rcptid",
     "state",
     "to",
     "from",
     "size",
     "attempts",
     "sent"
    ],
    "properties": {
     "msgid": {
      "type": "string"
     },
     "rcptid": {
      "type": "integer"
     },
     "state": {
      "type": "string"
     },
     "ip": {
      "type": "string"
     },
     "auth": {
      "type": "string"
     },
     "priority": {
      "type": "integer"
     },
     "to": {
      "type": "string"
     },
     "from": {
      "type": "string"
     },
     "subject": {
      "type": "string"
     },
     "sent": {
      "type": "string",
      "format": "date-time"
     },
     "size": {
      "type": "integer"
     },
     "attempts": {
      "type": "integer"
     },
     "last_reply": {
      "type": "string"
     },
     "remote_mta": {
      "type": "string"
     },
     "queue": {
      "type": "string"
     },
     "finished": {
      "type": "boolean"
     }
    }
   },
   "QueuePage": {
    "allOf": [
     {
      "$ref": "#/components/schemas/Page"
     }
    ],
    "type": "object",
    "properties": {
     "items": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/QueuedRecipient"
      }
     }
    }
   },
   "Group": {
    "type": "object",
    "required": [
     "name"
    ],
    "properties": {
     "name": {
      "type": "string"
     },
     "enabled": {
      "type": "boolean"
     },
     "members": {
      "type": "array",
      "items": {
       "type": "string"
      }
     }
    }
   },
   "List": {
    "type": "object",
    "required": [
     "name",
     "kind"
    ],
    "properties": {
     "name": {
      "type": "string"
     },
     "kind": {
      "type": "string",
      "enum": [
       "distribution",
       "mailing",
       "forwarding"
      ]
     },
     "public": {
      "type": "boolean"
     },
     "description": {
      "type": "string"
     },
     "members": {
      "type": "array",
      "items": {
       "type": "string"
      }
     }
    }
   },
   "Job": {
    "type": "object",
    "required": [
     "id",
     "kind",
     "actor",
     "state",
     "progress",
     "created",
     "result"
    ],
    "properties": {
     "id": {
      "type": "integer"
     },
     "kind": {
      "type": "string",
      "enum": [
       "log-verify",
       "verify",
       "rebuild"
      ]
     },
     "projection": {
      "type": "string"
     },
     "actor": {
      "type": "string"
     },
     "state": {
      "type": "string",
      "enum": [
       "queued",
       "running",
       "succeeded",
       "failed"
      ]
     },
     "progress": {
      "type": "number",
      "minimum": 0,
      "maximum": 1
     },
     "created": {
      "type": "string",
      "format": "date-time"
     },
     "finished": {
      "type": "string",
      "format": "date-time"
     },
     "result": {
      "type": "string"
     }
    }
   },
   "Projection": {
    "type": "object",
    "required": [
     "name",
     "mode",
     "schema",
     "behind"
    ],
    "properties": {
     "name": {
      "type": "string"
     },
     "mode": {
      "type": "string",
      "enum": [
       "inline",
       "async"
      ]
     },
     "schema": {
      "type": "string"
     },
     "position": {
      "type": "integer"
     },
     "behind": {
      "type": "integer"
     }
    }
   },
   "Event": {
    "type": "object",
    "required": [
     "position",
     "stream",
     "version",
     "type",
     "recorded_at",
     "event_id",
     "data"
    ],
    "properties": {
     "position": {
      "type": "integer"
     },
     "stream": {
      "type": "string"
     },
     "version": {
      "type": "integer"
     },
     "type": {
      "type": "string"
     },
     "recorded_at": {
      "type": "string",
      "format": "date-time"
     },
     "event_id": {
      "type": "string"
     },
     "correlation_id": {
      "type": "string"
     },
     "causation_id": {
      "type": "string"
     },
     "data": {}
    }
   },
   "Connection": {
    "type": "object",
    "required": [
     "connection",
     "default",
     "send_immediately",
     "online",
     "paused"
    ],
    "properties": {
     "connection": {
      "type": "object"
     },
     "default": {
      "type": "boolean"
     },
     "send_immediately": {
      "type": "boolean"
     },
     "online": {
      "type": "boolean"
     },
     "last_start": {
      "type": "string",
      "format": "date-time"
     },
     "last_trigger": {
      "type": "string"
     },
     "last_result": {
      "type": "string"
     },
     "next_poll": {
      "type": "string",
      "format": "date-time"
     },
     "paused": {
      "type": "boolean"
     }
    }
   }
  },
  "responses": {
   "Problem": {
    "description": "RFC 9457 problem details",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   }
  }
 },
 "security": [
  {
   "session": []
  },
  {
   "token": []
  }
 ],
 "paths": {
  "/session": {
   "post": {
    "summary": "Log in",
    "security": [],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "type": "object",
        "required": [
         "user",
         "password"
        ],
        "properties": {
         "user": {
          "type": "string"
         },
         "password": {
          "type": "string"
         }
        }
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "Logged in",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Session"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "delete": {
    "summary": "Log out",
    "responses": {
     "204": {
      "description": "Logged out"
     }
    }
   }
  },
  "/me": {
   "get": {
    "summary": "The user logged in",
    "responses": {
     "200": {
      "description": "The user",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/User"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "patch": {
    "summary": "Change one's own password, forwarding or reply address (any user)",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "type": "object",
        "properties": {
         "password": {
          "type": "string"
         },
         "forward_to": {
          "type": "string"
         },
         "use_forwarding": {
          "type": "boolean"
         },
         "reply_to": {
          "type": "string"
         }
        }
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "The user",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/User"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/settings": {
   "get": {
    "summary": "Every setting",
    "responses": {
     "200": {
      "description": "Settings",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/Setting"
         }
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/settings/{key}": {
   "put": {
    "summary": "Change a setting",
    "parameters": [
     {
      "name": "key",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "type": "object",
        "required": [
         "value"
        ],
        "properties": {
         "value": {
          "type": "string",
          "description": "JSON; strings may be bare"
         }
        }
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "The setting",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Setting"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/users": {
   "get": {
    "summary": "Users by name",
    "parameters": [
     {
      "name": "q",
      "in": "query",
      "schema": {
       "type": "string"
      }
     },
     {
      "name": "offset",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "A page",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/UserPage"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "post": {
    "summary": "Create a user",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/NewUser"
       }
      }
     }
    },
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/User"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/users/export": {
   "get": {
    "summary": "Every user as CSV (VPOP3's columns)",
    "responses": {
     "200": {
      "description": "CSV",
      "content": {
       "text/csv": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/users/import": {
   "post": {
    "summary": "Create and update users from CSV; with dry_run=true only say what would change",
    "parameters": [
     {
      "name": "dry_run",
      "in": "query",
      "schema": {
       "type": "string",
       "enum": [
        "true",
        "false"
       ]
      }
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "text/csv": {
       "schema": {
        "type": "string"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "What changed, or would",
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "created",
          "updated",
          "unchanged",
          "dry_run"
         ],
         "properties": {
          "created": {
           "type": "array",
           "items": {
            "type": "string"
           }
          },
          "updated": {
           "type": "array",
           "items": {
            "type": "string"
           }
          },
          "unchanged": {
           "type": "array",
           "items": {
            "type": "string"
           }
          },
          "dry_run": {
           "type": "boolean"
          }
         }
        }
       }
      }
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/users/{name}": {
   "parameters": [
    {
     "name": "name",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    }
   ],
   "get": {
    "summary": "A user",
    "responses": {
     "200": {
      "description": "The user",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/User"
        }
       }
      }
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "patch": {
    "summary": "Change a user",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/UserChange"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "The user",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/User"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "delete": {
    "summary": "Remove a user",
    "responses": {
     "204": {
      "description": "Removed"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/domains": {
   "get": {
    "summary": "Local domains",
    "responses": {
     "200": {
      "description": "Domains",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/Domain"
         }
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "post": {
    "summary": "Add a domain",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Domain"
       }
      }
     }
    },
    "responses": {
     "201": {
      "description": "Added",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Domain"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/domains/{pattern}": {
   "delete": {
    "summary": "Remove a domain",
    "parameters": [
     {
      "name": "pattern",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "204": {
      "description": "Removed"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/aliases": {
   "get": {
    "summary": "Aliases",
    "responses": {
     "200": {
      "description": "Aliases",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/Alias"
         }
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "post": {
    "summary": "Add an alias",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Alias"
       }
      }
     }
    },
    "responses": {
     "201": {
      "description": "Added",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Alias"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/aliases/{address}": {
   "delete": {
    "summary": "Remove an alias",
    "parameters": [
     {
      "name": "address",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "204": {
      "description": "Removed"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/queue": {
   "get": {
    "summary": "The outgoing queue's grid: State, IP Addr, Auth, Pri, To, From, Subject, Sent, Size",
    "parameters": [
     {
      "name": "state",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "held, queued, deferred, sent…"
     },
     {
      "name": "ip",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the sender's address"
     },
     {
      "name": "auth",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the authenticated user"
     },
     {
      "name": "priority",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Priority: N, >N, <N, >=N, <=N or N..M"
     },
     {
      "name": "to",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the recipient"
     },
     {
      "name": "from",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the return path"
     },
     {
      "name": "subject",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the subject"
     },
     {
      "name": "size",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Size: N, >N, <N, >=N, <=N or N..M"
     },
     {
      "name": "attempts",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Attempts: N, >N, <N, >=N, <=N or N..M"
     },
     {
      "name": "since",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "At or after (ISO 8601 time or date)"
     },
     {
      "name": "until",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Before (ISO 8601 time or date)"
     },
     {
      "name": "finished",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "true for finished recipients, false for those waiting"
     },
     {
      "name": "offset",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 10000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "A page",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/QueuePage"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/queue/{msgid}/{action}": {
   "post": {
    "summary": "Hold, release, delete, retry or bounce a queued message",
    "parameters": [
     {
      "name": "msgid",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      }
     },
     {
      "name": "action",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "enum": [
        "hold",
        "release",
        "delete",
        "retry",
        "bounce"
       ]
      }
     }
    ],
    "responses": {
     "204": {
      "description": "Done"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/queue/{msgid}/priority": {
   "put": {
    "summary": "Change a queued message's priority",
    "parameters": [
     {
      "name": "msgid",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "type": "object",
        "required": [
         "priority"
        ],
        "properties": {
         "priority": {
          "type": "integer",
          "minimum": -1000,
          "maximum": 1000
         }
        }
       }
      }
     }
    },
    "responses": {
     "204": {
      "description": "Done"
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/blocks": {
   "get": {
    "summary": "Blocked addresses",
    "responses": {
     "200": {
      "description": "Blocks",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/Block"
         }
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "post": {
    "summary": "Block an address or network",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Block"
       }
      }
     }
    },
    "responses": {
     "201": {
      "description": "Blocked",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Block"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/blocks/{address}": {
   "delete": {
    "summary": "Lift a block",
    "parameters": [
     {
      "name": "address",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "204": {
      "description": "Lifted"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/logdb/sessions": {
   "get": {
    "summary": "LogDB sessions (VPOP3's logdb.sessions)",
    "parameters": [
     {
      "name": "ip",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Client address"
     },
     {
      "name": "user",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the user name"
     },
     {
      "name": "service",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "smtp, pop3, imap…"
     },
     {
      "name": "type",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Session type"
     },
     {
      "name": "since",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "At or after (ISO 8601 time or date)"
     },
     {
      "name": "until",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Before (ISO 8601 time or date)"
     },
     {
      "name": "messages",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Messages in the session: N, >N, <N, >=N, <=N or N..M"
     },
     {
      "name": "offset",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "A page",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Page"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/logdb/messages": {
   "get": {
    "summary": "LogDB messages",
    "parameters": [
     {
      "name": "from",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the sender"
     },
     {
      "name": "subject",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the subject"
     },
     {
      "name": "ip",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Client address"
     },
     {
      "name": "session",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Session id"
     },
     {
      "name": "since",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "At or after (ISO 8601 time or date)"
     },
     {
      "name": "until",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Before (ISO 8601 time or date)"
     },
     {
      "name": "size",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Size in bytes: N, >N, <N, >=N, <=N or N..M"
     },
     {
      "name": "spam",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "true or false"
     },
     {
      "name": "offset",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "A page",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Page"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/logdb/recipients": {
   "get": {
    "summary": "LogDB recipients",
    "parameters": [
     {
      "name": "message",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Message id"
     },
     {
      "name": "to",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the address"
     },
     {
      "name": "type",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "N, I, R, F or S"
     },
     {
      "name": "result",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the result"
     },
     {
      "name": "since",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "At or after (ISO 8601 time or date)"
     },
     {
      "name": "until",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Before (ISO 8601 time or date)"
     },
     {
      "name": "offset",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "A page",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Page"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/ids": {
   "get": {
    "summary": "IDS events (smtpstats.smtpclientfailures)",
    "parameters": [
     {
      "name": "ip",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Client address"
     },
     {
      "name": "type",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "VPOP3's event number: N, >N, <N, >=N, <=N or N..M"
     },
     {
      "name": "service",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Service"
     },
     {
      "name": "since",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "At or after (ISO 8601 time or date)"
     },
     {
      "name": "until",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Before (ISO 8601 time or date)"
     },
     {
      "name": "offset",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "A page",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Page"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/blocks/history": {
   "get": {
    "summary": "Every block, lifted or not (smtpstats.smtpclientblocks)",
    "parameters": [
     {
      "name": "ip",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Client address"
     },
     {
      "name": "since",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "At or after (ISO 8601 time or date)"
     },
     {
      "name": "until",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Before (ISO 8601 time or date)"
     },
     {
      "name": "offset",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "A page",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Page"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/reputation/addresses": {
   "get": {
    "summary": "What each client address did",
    "parameters": [
     {
      "name": "ip",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the address"
     },
     {
      "name": "sort",
      "in": "query",
      "schema": {
       "type": "string",
       "enum": [
        "sessions",
        "messages",
        "validrcpts",
        "invalidrcpts",
        "relaydenied",
        "authok",
        "authfailed",
        "bytes",
        "lastseen"
       ]
      }
     },
     {
      "name": "offset",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "A page",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Page"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/reputation/domains": {
   "get": {
    "summary": "What each MAIL FROM domain did",
    "parameters": [
     {
      "name": "domain",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the domain"
     },
     {
      "name": "sort",
      "in": "query",
      "schema": {
       "type": "string",
       "enum": [
        "sessions",
        "messages",
        "validrcpts",
        "invalidrcpts",
        "relaydenied",
        "bytes",
        "lastseen"
       ]
      }
     },
     {
      "name": "offset",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "A page",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Page"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/audit": {
   "get": {
    "summary": "The message audit: what happened to each user's messages",
    "parameters": [
     {
      "name": "owner",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "The mailbox's owner"
     },
     {
      "name": "command",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "The command"
     },
     {
      "name": "folder",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of a folder name"
     },
     {
      "name": "subject",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the subject"
     },
     {
      "name": "since",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "At or after (ISO 8601 time or date)"
     },
     {
      "name": "until",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Before (ISO 8601 time or date)"
     },
     {
      "name": "offset",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "A page",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Page"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/log/streams": {
   "get": {
    "summary": "The log's streams",
    "parameters": [
     {
      "name": "category",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "A category"
     },
     {
      "name": "q",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "Part of the stream name"
     },
     {
      "name": "offset",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "A page",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Page"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/queue/{msgid}/attempts": {
   "get": {
    "summary": "A queued message's delivery attempts",
    "parameters": [
     {
      "name": "msgid",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      }
     },
     {
      "name": "offset",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "A page",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Page"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/groups": {
   "get": {
    "summary": "Groups with their members",
    "responses": {
     "200": {
      "description": "Groups",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/Group"
         }
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "post": {
    "summary": "Create a group",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Group"
       }
      }
     }
    },
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Group"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/groups/{name}": {
   "parameters": [
    {
     "name": "name",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    }
   ],
   "patch": {
    "summary": "Enable or disable a group",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "type": "object",
        "required": [
         "enabled"
        ],
        "properties": {
         "enabled": {
          "type": "boolean"
         }
        }
       }
      }
     }
    },
    "responses": {
     "204": {
      "description": "Changed"
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "delete": {
    "summary": "Remove a group",
    "responses": {
     "204": {
      "description": "Removed"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/groups/{name}/members/{user}": {
   "parameters": [
    {
     "name": "name",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    },
    {
     "name": "user",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    }
   ],
   "put": {
    "summary": "Add a member",
    "responses": {
     "204": {
      "description": "Added"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "delete": {
    "summary": "Remove a member",
    "responses": {
     "204": {
      "description": "Removed"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/lists": {
   "get": {
    "summary": "Lists with their members",
    "responses": {
     "200": {
      "description": "Lists",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/List"
         }
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "post": {
    "summary": "Create a list",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/List"
       }
      }
     }
    },
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/List"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/lists/{name}": {
   "parameters": [
    {
     "name": "name",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    }
   ],
   "delete": {
    "summary": "Remove a list",
    "responses": {
     "204": {
      "description": "Removed"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/lists/{name}/members": {
   "parameters": [
    {
     "name": "name",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    }
   ],
   "post": {
    "summary": "Add a member",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "type": "object",
        "required": [
         "address"
        ],
        "properties": {
         "address": {
          "type": "string"
         }
        }
       }
      }
     }
    },
    "responses": {
     "204": {
      "description": "Added"
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "409": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/lists/{name}/members/{address}": {
   "parameters": [
    {
     "name": "name",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    },
    {
     "name": "address",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    }
   ],
   "delete": {
    "summary": "Remove a member",
    "responses": {
     "204": {
      "description": "Removed"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/log/events": {
   "get": {
    "summary": "Events in log order after a position (by default the newest), each with its data",
    "parameters": [
     {
      "name": "after",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 0
      }
     },
     {
      "name": "stream",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "One stream"
     },
     {
      "name": "category",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "One category"
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "Events",
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "items",
          "after"
         ],
         "properties": {
          "items": {
           "type": "array",
           "items": {
            "$ref": "#/components/schemas/Event"
           }
          },
          "after": {
           "type": "integer"
          },
          "next": {
           "type": [
            "integer",
            "null"
           ]
          }
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/projections": {
   "get": {
    "summary": "Each projection's position in the log and the events waiting for it",
    "responses": {
     "200": {
      "description": "Projections",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/Projection"
         }
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/projections/{name}/digest": {
   "get": {
    "summary": "A projection's table digests (rows and hash per table)",
    "parameters": [
     {
      "name": "name",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "Digests",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "type": "object",
          "required": [
           "table",
           "rows",
           "hash"
          ],
          "properties": {
           "table": {
            "type": "string"
           },
           "rows": {
            "type": "string"
           },
           "hash": {
            "type": "string"
           }
          }
         }
        }
       }
      }
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/jobs": {
   "get": {
    "summary": "Jobs, newest first",
    "responses": {
     "200": {
      "description": "Jobs",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/Job"
         }
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "post": {
    "summary": "Start verifying the log, or verifying or rebuilding a projection",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "type": "object",
        "required": [
         "kind"
        ],
        "properties": {
         "kind": {
          "type": "string",
          "enum": [
           "log-verify",
           "verify",
           "rebuild"
          ]
         },
         "projection": {
          "type": "string"
         }
        }
       }
      }
     }
    },
    "responses": {
     "202": {
      "description": "Queued",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Job"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "422": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/jobs/{id}": {
   "get": {
    "summary": "A job and its progress",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "The job",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Job"
        }
       }
      }
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/senders": {
   "get": {
    "summary": "The mail senders (setting outqueue.senders)",
    "responses": {
     "200": {
      "description": "Senders",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "type": "object"
         }
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/routes": {
   "get": {
    "summary": "The LAN forwarding rules (setting lan.forwarding)",
    "responses": {
     "200": {
      "description": "Rules",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "type": "object"
         }
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/connections": {
   "get": {
    "summary": "The connections with their last run and next poll",
    "responses": {
     "200": {
      "description": "Connections",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/Connection"
         }
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/connections/{name}/connect": {
   "post": {
    "summary": "Start a connection now (`default` for the default ones)",
    "parameters": [
     {
      "name": "name",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "202": {
      "description": "Asked for"
     },
     "404": {
      "$ref": "#/components/responses/Problem"
     },
     "401": {
      "$ref": "#/components/responses/Problem"
     },
     "403": {
      "$ref": "#/components/responses/Problem"
     },
     "400": {
      "$ref": "#/components/responses/Problem"
     },
     "413": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  }
 }
}
"""#
}
