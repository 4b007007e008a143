package ledger

import (
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Small constructors and readers for attribute values, so records stay readable without a
// reflection-based marshaller.

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num[T ~int | ~int64 | ~float64](v T) types.AttributeValue {
	switch x := any(v).(type) {
	case float64:
		return &types.AttributeValueMemberN{Value: strconv.FormatFloat(x, 'f', -1, 64)}
	case int:
		return &types.AttributeValueMemberN{Value: strconv.Itoa(x)}
	default:
		return &types.AttributeValueMemberN{Value: strconv.FormatInt(int64(v), 10)}
	}
}

func boolean(b bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: b} }

func strList(ss []string) types.AttributeValue {
	l := make([]types.AttributeValue, len(ss))
	for i, s := range ss {
		l[i] = str(s)
	}
	return &types.AttributeValueMemberL{Value: l}
}

func numList(ns []int) types.AttributeValue {
	l := make([]types.AttributeValue, len(ns))
	for i, n := range ns {
		l[i] = num(n)
	}
	return &types.AttributeValueMemberL{Value: l}
}

// GetS reads a string attribute, "" when absent or of another type.
func GetS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// GetN reads a numeric attribute as int64, 0 when absent or not a number.
func GetN(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// GetBool reads a boolean attribute, false when absent.
func GetBool(item map[string]types.AttributeValue, name string) bool {
	if v, ok := item[name].(*types.AttributeValueMemberBOOL); ok {
		return v.Value
	}
	return false
}

// GetSS reads a list of strings.
func GetSS(item map[string]types.AttributeValue, name string) []string {
	l, ok := item[name].(*types.AttributeValueMemberL)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(l.Value))
	for _, v := range l.Value {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			out = append(out, s.Value)
		}
	}
	return out
}

// GetNs reads a list of numbers as ints.
func GetNs(item map[string]types.AttributeValue, name string) []int {
	l, ok := item[name].(*types.AttributeValueMemberL)
	if !ok {
		return nil
	}
	out := make([]int, 0, len(l.Value))
	for _, v := range l.Value {
		if n, ok := v.(*types.AttributeValueMemberN); ok {
			i, _ := strconv.Atoi(n.Value)
			out = append(out, i)
		}
	}
	return out
}
