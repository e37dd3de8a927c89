package config

import "strconv"

// suggest returns ` (did you mean "x"?)` for the option closest to s, when
// one is within a typo or two of it, and "" otherwise.
func suggest(s string, options []string) string {
	best := closest(s, options)
	if best == "" {
		return ""
	}
	return " (did you mean " + strconv.Quote(best) + "?)"
}

// closest returns the option within a typo or two of s (one for options of
// three or four letters, none for shorter ones) that is closest to it, or "".
func closest(s string, options []string) string {
	best, bestD := "", 3
	for _, o := range options {
		if len(o) < 3 {
			continue // any one letter is a typo away from another
		}
		d := distance(s, o)
		limit := 2
		if len(o) <= 4 {
			limit = 1
		}
		if d <= limit && d < bestD {
			best, bestD = o, d
		}
	}
	return best
}

// distance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent
// bytes each cost one. Long inputs are not compared (the result is large).
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
