package studio

import "strings"

// Liquid's case tag, which queuebridge's IVR uses to turn the menu key into a department inside
// task_attributes: {% case x %}{% when 'a' %}…{% when 'b', 'c' %}…{% else %}…{% endcase %}.
// Other tags ({% if %}, {% assign %} …) stay as text, as before. Tags are resolved before
// {{ expressions }}, so a chosen branch's expressions are filled in too.

// liquidTag is one {% name arg %} found at the start of a string; size is its length.
type liquidTag struct {
	name, arg string
	size      int
}

func parseTag(s string) (liquidTag, bool) {
	if !strings.HasPrefix(s, "{%") {
		return liquidTag{}, false
	}
	end := strings.Index(s, "%}")
	if end < 0 {
		return liquidTag{}, false
	}
	inner := strings.TrimSpace(strings.Trim(s[2:end], "-"))
	name, arg, _ := strings.Cut(inner, " ")
	return liquidTag{name: name, arg: strings.TrimSpace(arg), size: end + 2}, true
}

// renderTags resolves every well-formed case block of tpl.
func renderTags(tpl string, vars map[string]any) string {
	var b strings.Builder
	rest := tpl
	for {
		open := strings.Index(rest, "{%")
		if open < 0 {
			b.WriteString(rest)
			return b.String()
		}
		tag, ok := parseTag(rest[open:])
		var body, after string
		if ok && tag.name == "case" {
			body, after, ok = caseBody(rest[open+tag.size:])
		}
		if !ok || tag.name != "case" {
			b.WriteString(rest[:open+2])
			rest = rest[open+2:]
			continue
		}
		b.WriteString(rest[:open])
		b.WriteString(renderTags(chooseWhen(body, stringify(evalOperand(tag.arg, vars)), vars), vars))
		rest = after
	}
}

// caseBody splits s, which follows a {% case %} tag, at its matching {% endcase %}.
func caseBody(s string) (body, after string, ok bool) {
	depth := 1
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "{%")
		if j < 0 {
			return "", "", false
		}
		at := i + j
		tag, ok := parseTag(s[at:])
		if !ok {
			return "", "", false
		}
		switch tag.name {
		case "case":
			depth++
		case "endcase":
			depth--
			if depth == 0 {
				return s[:at], s[at+tag.size:], true
			}
		}
		i = at + tag.size
	}
	return "", "", false
}

// chooseWhen returns the branch of a case body whose when-values include value, else the else
// branch, else nothing. Text before the first when is ignored, as in Liquid.
func chooseWhen(body, value string, vars map[string]any) string {
	var (
		elseBranch string
		hasElse    bool
		depth      int
		current    = -1 // 0: a when that matched, 1: a when that did not, 2: else
		start      int
		found      string
		matched    bool
	)
	closeBranch := func(end int) {
		switch current {
		case 0:
			if !matched {
				found, matched = body[start:end], true
			}
		case 2:
			if !hasElse {
				elseBranch, hasElse = body[start:end], true
			}
		}
	}
	for i := 0; i < len(body); {
		j := strings.Index(body[i:], "{%")
		if j < 0 {
			break
		}
		at := i + j
		tag, ok := parseTag(body[at:])
		if !ok {
			break
		}
		i = at + tag.size
		switch {
		case tag.name == "case":
			depth++
		case tag.name == "endcase":
			depth--
		case depth == 0 && tag.name == "when":
			closeBranch(at)
			current, start = 1, i
			for _, v := range splitWhenValues(tag.arg) {
				if stringify(evalOperand(v, vars)) == value {
					current = 0
				}
			}
		case depth == 0 && tag.name == "else":
			closeBranch(at)
			current, start = 2, i
		}
	}
	closeBranch(len(body))
	if matched {
		return found
	}
	return elseBranch
}

// splitWhenValues splits "'a', 'b' or 'c'" into its values.
func splitWhenValues(arg string) []string {
	var out []string
	for _, part := range splitOutsideQuotes(arg, ',') {
		for _, v := range strings.Split(part, " or ") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}
