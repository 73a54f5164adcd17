package awssim

// STS.
var stsActions = map[string]handler{
	"GetCallerIdentity": stsGetCallerIdentity,
}

type getCallerIdentityResult struct {
	Arn     string `xml:"Arn"`
	UserId  string `xml:"UserId"`
	Account string `xml:"Account"`
}

// stsGetCallerIdentity needs no permission and cannot be denied: it answers who signed.
func stsGetCallerIdentity(_ *Server, q *request) (any, *apiError) {
	return getCallerIdentityResult{Arn: q.caller.arn(), UserId: q.caller.userID(), Account: q.acct.ID}, nil
}
