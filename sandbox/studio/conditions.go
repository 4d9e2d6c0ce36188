package studio

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// conditionKnown reports whether typ is one of the tests Studio's split-based-on offers.
func conditionKnown(typ string) bool {
	switch typ {
	case "equal_to", "not_equal_to", "matches_any_of", "does_not_match_any_of", "is_blank",
		"is_not_blank", "contains", "does_not_contain", "starts_with", "does_not_start_with",
		"less_than", "greater_than", "regex",
		"is_before_time", "is_after_time", "is_before_date", "is_after_date":
		return true
	}
	return false
}

// evalCondition applies a split-based-on test to the subject. Text comparisons ignore case and
// surrounding spaces (a caller's "Yes" matches "yes"); less_than and greater_than compare
// numbers and are false when either side is not one. The date and time tests are not modelled:
// they fail the execution rather than pick a branch silently.
func evalCondition(typ, subject, value string) (bool, error) {
	s := strings.ToLower(strings.TrimSpace(subject))
	v := strings.ToLower(strings.TrimSpace(value))
	switch typ {
	case "equal_to":
		return s == v, nil
	case "not_equal_to":
		return s != v, nil
	case "matches_any_of", "does_not_match_any_of":
		found := false
		for _, option := range strings.Split(v, ",") {
			if strings.TrimSpace(option) == s {
				found = true
				break
			}
		}
		return found == (typ == "matches_any_of"), nil
	case "is_blank":
		return s == "", nil
	case "is_not_blank":
		return s != "", nil
	case "contains":
		return strings.Contains(s, v), nil
	case "does_not_contain":
		return !strings.Contains(s, v), nil
	case "starts_with":
		return strings.HasPrefix(s, v), nil
	case "does_not_start_with":
		return !strings.HasPrefix(s, v), nil
	case "less_than", "greater_than":
		a, errA := strconv.ParseFloat(s, 64)
		b, errB := strconv.ParseFloat(v, 64)
		if errA != nil || errB != nil {
			return false, nil
		}
		if typ == "less_than" {
			return a < b, nil
		}
		return a > b, nil
	case "regex":
		re, err := regexp.Compile(strings.TrimSpace(value))
		if err != nil {
			return false, fmt.Errorf("condition regex %q: %w", value, err)
		}
		return re.MatchString(strings.TrimSpace(subject)), nil
	}
	return false, fmt.Errorf("condition type %q is not supported by the sandbox", typ)
}
