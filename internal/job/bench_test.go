package job_test

import (
	"fmt"

	"github.com/keycycle/keycycle/internal/awssim"
)

// accountOf returns a scenario of n users: 1 in 100 due for rotation, 1 in 100 within the warning
// lead time, the rest with young keys.
func accountOf(n int) *awssim.Scenario {
	users := make([]awssim.ScenarioUser, n)
	used := 1
	for i := range users {
		age := 30
		switch i % 100 {
		case 0:
			age = 120
		case 1:
			age = 85
		}
		users[i] = awssim.ScenarioUser{Name: fmt.Sprintf("user-%06d", i),
			Tags:       map[string]string{"owner": fmt.Sprintf("user-%06d@example.com", i)},
			AccessKeys: []awssim.ScenarioKey{{AgeDays: age, Status: "Active", LastUsedDaysAgo: &used}}}
	}
	return &awssim.Scenario{Accounts: []awssim.ScenarioAccount{{ID: "111111111111", Users: users}}}
}
