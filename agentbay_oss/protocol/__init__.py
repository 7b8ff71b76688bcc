"""Sans-I/O pieces of the OSS protocol: signing, CRC64, XML, part planning.

Plain functions and data, no sockets, shared by the client and the local server.
"""
