package studio

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// render fills a Studio template: every {{ expression }} is replaced by the value the expression
// names in vars. It is the small subset of Liquid that flows use: dotted paths into the execution
// context (trigger.call.From, widgets.menu.Digits, flow.flow_sid, widgets.http.parsed.items.0),
// quoted string literals, and a handful of filters (default, upcase, downcase, strip, size,
// url_encode, append, prepend), and the case tag (liquid_case.go). As in Liquid's lax mode, a
// missing value renders as the empty string, an unknown filter leaves the value unchanged, and
// an unclosed {{ and other {% tags %} are left as text.
func render(tpl string, vars map[string]any) string {
	if strings.Contains(tpl, "{%") {
		tpl = renderTags(tpl, vars)
	}
	if !strings.Contains(tpl, "{{") {
		return tpl
	}
	var b strings.Builder
	rest := tpl
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			b.WriteString(rest)
			return b.String()
		}
		end := strings.Index(rest[open+2:], "}}")
		if end < 0 {
			b.WriteString(rest)
			return b.String()
		}
		b.WriteString(rest[:open])
		b.WriteString(evalExpression(rest[open+2:open+2+end], vars))
		rest = rest[open+2+end+2:]
	}
}

// evalExpression evaluates "path | filter: arg | filter" to text.
func evalExpression(expr string, vars map[string]any) string {
	parts := splitOutsideQuotes(expr, '|')
	v := evalOperand(strings.TrimSpace(parts[0]), vars)
	for _, f := range parts[1:] {
		name, arg, _ := strings.Cut(f, ":")
		v = applyFilter(strings.TrimSpace(name), evalOperand(strings.TrimSpace(arg), vars), v)
	}
	return stringify(v)
}

// evalOperand is a quoted literal, a number or a path into vars.
func evalOperand(op string, vars map[string]any) any {
	if op == "" {
		return nil
	}
	if len(op) >= 2 && (op[0] == '"' || op[0] == '\'') && op[len(op)-1] == op[0] {
		return op[1 : len(op)-1]
	}
	if _, err := strconv.ParseFloat(op, 64); err == nil {
		return op
	}
	return lookup(vars, op)
}

// lookup follows a dotted path (a.b.0.c) through maps and slices; nil when any part is missing.
func lookup(vars map[string]any, path string) any {
	var cur any = vars
	for _, seg := range strings.Split(path, ".") {
		seg = strings.TrimSpace(seg)
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[seg]
			if !ok {
				return nil
			}
			cur = v
		case map[string]string:
			v, ok := c[seg]
			if !ok {
				return nil
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

func applyFilter(name string, arg, v any) any {
	s := stringify(v)
	switch name {
	case "default":
		if v == nil || s == "" || s == "false" {
			return arg
		}
		return v
	case "upcase":
		return strings.ToUpper(s)
	case "downcase":
		return strings.ToLower(s)
	case "strip":
		return strings.TrimSpace(s)
	case "size":
		switch c := v.(type) {
		case []any:
			return strconv.Itoa(len(c))
		case map[string]any:
			return strconv.Itoa(len(c))
		}
		return strconv.Itoa(len([]rune(s)))
	case "url_encode":
		return url.QueryEscape(s)
	case "append":
		return s + stringify(arg)
	case "prepend":
		return stringify(arg) + s
	}
	return v
}

// stringify renders a context value as Liquid prints it; objects and arrays print as JSON so a
// parsed HTTP body can be passed on whole.
func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	default:
		data, err := json.Marshal(x)
		if err != nil {
			return ""
		}
		return string(data)
	}
}

func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}
