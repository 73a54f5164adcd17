package awssim

// PasswordIs reports whether pw is the current console password of the user; false when the
// account, the user or its login profile does not exist. It is for tests and demos: AWS offers no
// way to check a password but a console sign-in, which the sandbox does not serve.
func (s *Server) PasswordIs(accountID, userName, pw string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.world.accounts[accountID]
	if !ok {
		return false
	}
	u := a.findUser(userName)
	return u != nil && u.Login != nil && u.Login.passwordHash == hashPassword(pw)
}

// AccessKeySecretIs reports whether secret is the secret of the user's access key keyID; false
// when the account, the user or the key does not exist. Tests use it to check that what a sink
// holds is the key's real secret, whatever the key's status or propagation delay.
func (s *Server) AccessKeySecretIs(accountID, userName, keyID, secret string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.world.accounts[accountID]
	if !ok {
		return false
	}
	u := a.findUser(userName)
	if u == nil {
		return false
	}
	for _, k := range u.Keys {
		if k.ID == keyID {
			return k.Secret == secret
		}
	}
	return false
}
